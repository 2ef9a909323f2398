import Foundation
import UNet

/// `segpipe bench`: times the U-Net on random weights and random tiles, after warm-up steps, and
/// reports tiles per second and convolution GFLOP/s (UNET.md's FLOP count; a training step counts
/// three forward passes: forward, backward to data, backward to weights).
public struct NetworkBenchmark: Sendable {
    public enum Mode: String, Sendable, Codable, CaseIterable {
        /// Forward, loss, backward and an Adam update per step.
        case train
        /// Inference forward per step.
        case predict
    }

    /// An option out of range, said in one line.
    public struct InvalidOption: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public var mode: Mode
    public var batchSize: Int
    public var precision: Precision
    /// How the 3×3 convolutions are computed (forward and, in training, backward to the data).
    public var convolution: ConvolutionAlgorithm
    /// The network; `UNetConfig.reference` with the chosen upsampling unless replaced (tests use
    /// a small one).
    public var config: UNetConfig
    public var steps: Int
    public var warmUpSteps: Int
    public var seed: UInt64

    public init(
        mode: Mode = .predict, batchSize: Int = 8, precision: Precision = .f32, convolution: ConvolutionAlgorithm = .winograd,
        upsampling: Upsampling = .transpose, steps: Int = 10, warmUpSteps: Int = 2, seed: UInt64 = 0
    ) {
        var config = UNetConfig.reference
        config.upsampling = upsampling
        self.mode = mode
        self.batchSize = batchSize
        self.precision = precision
        self.convolution = convolution
        self.config = config
        self.steps = steps
        self.warmUpSteps = warmUpSteps
        self.seed = seed
    }

    /// Builds the network, runs the warm-up steps untimed, then times `steps` steps one by one.
    public func run() throws -> NetworkBenchmarkResult {
        if batchSize < 1 { throw InvalidOption(description: "batch size must be at least 1 (got \(batchSize))") }
        if steps < 1 { throw InvalidOption(description: "steps must be at least 1 (got \(steps))") }
        if warmUpSteps < 0 { throw InvalidOption(description: "warm-up steps must not be negative (got \(warmUpSteps))") }
        if let problem = config.problems.first { throw InvalidOption(description: "invalid network: \(problem)") }

        // A batch size makes the model build its training graph up front, which prediction
        // never uses and which would inflate its peak memory.
        let model = try UNetModel(config: config, seed: seed, precision: precision, convolutionAlgorithm: convolution,
                                  batchSize: mode == .train ? batchSize : nil)
        var random = SplitMix64(seed: seed ^ 0x5EED)
        let side = config.tileSize
        let input = HostTensor(
            shape: [batchSize, side, side, config.nChannels],
            values: (0..<batchSize * side * side * config.nChannels).map { _ in Float(random.unit() * 2 - 1) })
        let targets = HostTensor(
            shape: [batchSize, side, side, config.nClasses],
            values: (0..<batchSize * side * side * config.nClasses).map { _ in random.unit() < 0.3 ? 1 : 0 })

        func step() throws {
            switch mode {
            case .train: _ = try model.trainStep(input: input, targets: targets)
            case .predict: _ = try model.forward(input, training: false)
            }
        }
        for _ in 0..<warmUpSteps { try step() }
        let clock = ContinuousClock()
        var seconds: [Double] = []
        for _ in 0..<steps {
            let start = clock.now
            try step()
            let elapsed = clock.now - start
            seconds.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
        }

        let sorted = seconds.sorted()
        let median = sorted.count % 2 == 1
            ? sorted[sorted.count / 2]
            : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        let best = sorted[0]
        let flopsPerStep = config.forwardFLOPsPerTile * Double(batchSize) * (mode == .train ? 3 : 1)
        return NetworkBenchmarkResult(
            mode: mode, batchSize: batchSize, precision: precision.rawValue,
            convolution: convolution.rawValue, upsampling: config.upsampling,
            steps: steps, warmUpSteps: warmUpSteps,
            tilesPerSecondMedian: Double(batchSize) / median, tilesPerSecondBest: Double(batchSize) / best,
            gflopsMedian: flopsPerStep / median / 1e9, gflopsBest: flopsPerStep / best / 1e9,
            stepSeconds: seconds, peakResidentBytes: ProcessMemory.peakResidentBytes())
    }
}
