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

    @Option(help: "train or predict.") var mode = "predict"
    @Option var batchSize = 8
    @Option(help: "f32 or bf16.") var precision = "f32"
    @Option(help: "transpose or nearest.") var upsampling = "transpose"
    @Option(help: "winograd or direct: how the 3×3 convolutions run (in training, forward and backward to the data).") var convolution = "winograd"
    @Option(help: "Timed steps (the median and best are reported).") var steps = 10
    @Option(help: "Untimed steps first.") var warmUp = 2
    @Flag(help: "One JSON object.") var json = false

    func run() throws {
        guard let benchMode = NetworkBenchmark.Mode(rawValue: mode) else { throw ValidationError("--mode must be train or predict") }
        guard let precisionMode = Pipeline.Precision(rawValue: precision) else { throw ValidationError("--precision must be f32 or bf16") }
        guard let upsamplingMode = Pipeline.Upsampling(rawValue: upsampling) else {
            throw ValidationError("--upsampling must be transpose or nearest")
        }
        guard let algorithm = Pipeline.ConvolutionAlgorithm(rawValue: convolution) else {
            throw ValidationError("--convolution must be winograd or direct")
        }
        let benchmark = NetworkBenchmark(mode: benchMode, batchSize: batchSize, precision: precisionMode, convolution: algorithm,
                                         upsampling: upsamplingMode, steps: steps, warmUpSteps: warmUp)
        let result = try benchmark.run()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        } else {
            print(result.summary)
        }
    }
}
