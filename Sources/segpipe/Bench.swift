import ArgumentParser
import Foundation
import Pipeline

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time the default U-Net (160×160×8, 5 classes) on random weights and input.",
        discussion: """
            Measure release builds: swift build -c release. GFLOP/s count a direct convolution's \
            FLOPs (Winograd does fewer); a training step counts 3× the forward FLOPs.
            """
    )

    @Option(help: "What to time.") var mode: NetworkBenchmark.Mode = .predict
    @Option(parsing: .unconditional) var batchSize = 8
    @Option(help: "The convolutions' arithmetic.") var precision: Pipeline.Precision = .f32
    @Option(help: "How the decoder upsamples.") var upsampling: Pipeline.Upsampling = .transpose
    @Option(help: "How the 3×3 convolutions run (in training, their gradients too).") var convolution: Pipeline.ConvolutionAlgorithm = .winograd
    @Option(parsing: .unconditional, help: "Timed steps (the median and best are reported).") var steps = 10
    @Option(parsing: .unconditional, help: "Untimed steps first.") var warmUp = 2
    @Flag(help: "One JSON object.") var json = false

    func run() throws {
        let benchmark = NetworkBenchmark(mode: mode, batchSize: batchSize, precision: precision, convolution: convolution,
                                         upsampling: upsampling, steps: steps, warmUpSteps: warmUp)
        let result: NetworkBenchmarkResult
        do {
            result = try benchmark.run()
        } catch let invalid as NetworkBenchmark.InvalidOption {
            throw ValidationError(invalid.description)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try printProduct(String(decoding: try encoder.encode(result), as: UTF8.self))
        } else {
            try printProduct(result.summary)
        }
    }
}
