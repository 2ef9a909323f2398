import UNet

/// Everything `segpipe train` can be told.
public struct TrainingOptions: Sendable {
    public var images: String
    public var masks: String
    public var maskSuffix = ""
    /// The best model (by validation loss) is written here; the last checkpoint beside it.
    public var output: String
    public var legendPath: String?

    public var epochs = 20
    public var stepsPerEpoch = 100
    public var batchSize = 8
    public var learningRate = 1e-3
    /// Given per-class weights; nil keeps the configuration's (or computes them, with `autoClassWeights`).
    public var classWeights: [Double]?
    public var autoClassWeights = false

    public var tileSize = 160
    public var depth = 5
    public var filters = 32
    public var growthFactor = 2
    public var upsampling: Upsampling = .transpose
    public var dropout = 0.25
    public var precision: Precision = .f32
    /// Winograd (faster) or direct 3×3 convolutions; they differ by rounding only.
    public var convolution: ConvolutionAlgorithm = .winograd
    public var seed: UInt64 = 1

    public var normalization: Normalization.Mode = .zscore
    /// Share of each scene's rows, at the bottom, held out for validation (when no scenes are named).
    public var validationFraction = 0.2
    /// Scene names (file stems) held out whole for validation instead.
    public var validationScenes: [String] = []
    public var rareClassProbability = 0.0
    public var loaderThreads = 1
    public var resume = false

    public init(images: String, masks: String, output: String) {
        self.images = images
        self.masks = masks
        self.output = output
    }

    /// Problems with the options themselves, before any file is read.
    public var problems: [String] {
        var found: [String] = []
        if epochs < 1 { found.append("--epochs must be at least 1") }
        if stepsPerEpoch < 1 { found.append("--steps-per-epoch must be at least 1") }
        if epochs > 1_000_000 { found.append("--epochs must be at most 1000000") }
        if stepsPerEpoch > 1_000_000 { found.append("--steps-per-epoch must be at most 1000000") }
        if batchSize < 1 || batchSize > 1024 { found.append("--batch-size must be between 1 and 1024") }
        if !(learningRate > 0 && learningRate < 10) { found.append("--learning-rate must be in (0, 10)") }
        if !(0.0..<1.0).contains(validationFraction) { found.append("--validation-fraction must be in [0, 1)") }
        if !(0.0...1.0).contains(rareClassProbability) { found.append("--oversample-rare must be in [0, 1]") }
        if loaderThreads < 1 || loaderThreads > 64 { found.append("--loader-threads must be between 1 and 64") }
        // The loss weighs in Float32: what rounds to zero there is zero, and what overflows is infinite.
        if let classWeights, classWeights.contains(where: { !Float($0).isFinite }) {
            found.append("--class-weights must each be below \(Float.greatestFiniteMagnitude)")
        } else if let classWeights, !classWeights.contains(where: { Float($0) > 0 }) {
            found.append("--class-weights are all zero, so the loss would be zero and nothing would be learnt")
        }
        // The network's own rules, spelled as this command's options.
        let network = UNetConfig(nClasses: 1, nChannels: 1, tileSize: tileSize, nFiltersStart: filters, growthFactor: growthFactor,
                                 depth: depth, upsampling: upsampling, dropout: dropout)
        found += network.problems.map(Self.optionSpelling)
        return found
    }

    /// A `UNetConfig` problem with the model file's key names replaced by the options' names.
    static func optionSpelling(_ problem: String) -> String {
        let options = ["n_filters_start": "--filters", "growth_factor": "--growth-factor", "tile_size": "--tile-size",
                       "depth": "--depth", "dropout": "--dropout", "class_weights": "--class-weights"]
        if problem.hasPrefix("the bottleneck would have") {
            return "--filters with --growth-factor and --depth: " + problem
        }
        let key = String(problem.prefix { $0 != " " })
        return options[key].map { $0 + problem.dropFirst(key.count) } ?? problem
    }
}
