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

    /// What is wrong with the options that needs no model to see, each naming its option.
    public var problems: [String] {
        var found: [String] = []
        if batchSize < 1 || batchSize > 1024 { found.append("--batch-size must be between 1 and 1024") }
        if !(threshold >= 0 && threshold <= 1) { found.append("--threshold must be between 0 and 1") }
        if let overlap, overlap < 0 { found.append("--overlap must not be negative") }
        return found
    }
}
