import UNet

/// Everything `segpipe predict` can be told.
public struct PredictionOptions: Sendable {
    public var modelPath: String
    public var outputDirectory: String
    /// Pixels shared by neighbouring tiles; nil takes `Predictor.defaultOverlap`.
    public var overlap: Int?
    public var testTimeAugmentation = false
    public var writeProbabilities = false
    public var threshold: Float = 0.5
    public var paint: ClassPainter.Mode = .argmax
    public var batchSize = 8
    public var precision: Precision = .f32
    /// Winograd (faster) or direct 3×3 convolutions; they differ by rounding only.
    public var convolution: ConvolutionAlgorithm = .winograd
    /// Read and tile on one thread and stitch and write on another while the calling thread runs
    /// the network; false does each step in turn on the calling thread (same outputs, for measuring).
    public var pipelined = true

    public init(modelPath: String, outputDirectory: String) {
        self.modelPath = modelPath
        self.outputDirectory = outputDirectory
    }
}
