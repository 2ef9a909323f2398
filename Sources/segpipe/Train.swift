import ArgumentParser
import Foundation
import Pipeline
import Synchronization

/// Set by SIGINT or SIGTERM; the trainer checks it between steps.
let stopSignal = Atomic<Int32>(0)

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a U-Net on a folder of scenes and masks.",
        discussion: """
            Pairs images/NAME.tif with masks/NAME.png (class ids or legend colours, 255 = no label) \
            or masks/NAME.tif (one band of class ids, or one band per class). Writes the best model (by validation loss) to \
            --out, the last checkpoint to NAME.last.safetensors and one JSON line of metrics per \
            epoch to NAME.metrics.jsonl beside it. SIGINT or SIGTERM saves a checkpoint and stops; \
            --resume continues from it exactly (with the options it was made with), or starts a \
            new model when there is no checkpoint yet.
            """
    )

    @Option(help: ArgumentHelp("Folder of multi-band TIFF scenes.", valueName: "dir")) var images: String
    @Option(help: ArgumentHelp("Folder of masks.", valueName: "dir")) var masks: String
    @Option(help: ArgumentHelp("Model file to write.", valueName: "model.safetensors")) var out: String
    @Option(help: "Suffix of mask names, as in scene7_mask.png.") var maskSuffix = ""
    @Option(help: ArgumentHelp("Class legend (YAML or JSON); default: buildings, roads & tracks, trees, crops, water.", valueName: "file")) var legend: String?
    @Option(parsing: .unconditional) var epochs = 20
    @Option(parsing: .unconditional) var stepsPerEpoch = 100
    @Option(parsing: .unconditional) var batchSize = 8
    @Option(parsing: .unconditional) var learningRate = 1e-3
    @Option(parsing: .unconditional, help: ArgumentHelp("Per-class loss weights, comma-separated, or 'auto' (inverse class frequency); default: the reference's for the default legend, equal for any other.", valueName: "w1,w2,...|auto"))
    var classWeights: String?
    @Option(parsing: .unconditional, help: "Tile side (a multiple of 2^depth).") var tileSize = 160
    @Option(parsing: .unconditional) var depth = 5
    @Option(parsing: .unconditional, help: "Filters at the first level; keep it a multiple of 8 (others run 40–100× slower).") var filters = 32
    @Option(parsing: .unconditional) var growthFactor = 2
    @Option(help: "How the decoder upsamples.") var upsampling: Pipeline.Upsampling = .transpose
    @Option(parsing: .unconditional) var dropout = 0.25
    @Option(help: "The convolutions' arithmetic.") var precision: Pipeline.Precision = .f32
    @Option(help: "How 3×3 convolutions are computed (same result up to rounding).") var convolution: Pipeline.ConvolutionAlgorithm = .winograd
    @Option(parsing: .unconditional) var seed: UInt64 = 1
    @Option(help: "How bands are scaled before the network.") var normalization: Normalization.Mode = .zscore
    @Option(parsing: .unconditional, help: "Share of each scene's bottom rows held out for validation.") var validationFraction = 0.2
    @Option(help: ArgumentHelp("Scenes held out whole for validation instead (file stems, comma-separated).", valueName: "names"))
    var validationScenes: String?
    @Option(parsing: .unconditional, help: "Probability that a tile is chosen to contain a rare class.") var oversampleRare = 0.0
    @Option(parsing: .unconditional, help: "Threads reading and augmenting tiles.") var loaderThreads = 1
    @Flag(help: "Continue from the last checkpoint, if there is one.") var resume = false

    func makeOptions() throws -> TrainingOptions {
        var options = TrainingOptions(images: images, masks: masks, output: out)
        options.maskSuffix = maskSuffix
        options.legendPath = legend
        options.epochs = epochs
        options.stepsPerEpoch = stepsPerEpoch
        options.batchSize = batchSize
        options.learningRate = learningRate
        if let classWeights {
            if classWeights == "auto" {
                options.autoClassWeights = true
            } else {
                let texts = classWeights.split(separator: ",", omittingEmptySubsequences: false)
                let values = texts.compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
                guard !values.isEmpty, values.count == texts.count, values.allSatisfy({ $0 >= 0 && $0.isFinite }) else {
                    throw ValidationError("--class-weights must be non-negative numbers separated by commas, or 'auto'")
                }
                options.classWeights = values
            }
        }
        options.tileSize = tileSize
        options.depth = depth
        options.filters = filters
        options.growthFactor = growthFactor
        options.upsampling = upsampling
        options.dropout = dropout
        options.precision = precision
        options.convolution = convolution
        options.seed = seed
        options.normalization = normalization
        options.validationFraction = validationFraction
        // "scene5, scene6" as well as "scene5,scene6": a space is never part of the list's meaning.
        options.validationScenes = validationScenes?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } ?? []
        options.rareClassProbability = oversampleRare
        options.loaderThreads = loaderThreads
        options.resume = resume
        if let problem = options.problems.first { throw ValidationError(problem) }
        return options
    }

    func validate() throws { _ = try makeOptions() }

    func run() throws {
        let trainer = Trainer(options: try makeOptions())
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber) { received in stopSignal.store(received, ordering: .relaxed) }
        }
        let display = ProgressDisplay()
        do {
            let trained = try trainer.run(stopRequested: { stopSignal.load(ordering: .relaxed) != 0 }) { event in
                display.show(event)
            }
            display.finish()
            if trained == 0 { printLine("nothing left to train; \(trainer.options.output) is the finished run's") }
        } catch let interrupted as TrainingInterrupted {
            display.finish()
            printError("segpipe: \(interrupted)")
            throw ExitCode(128 + stopSignal.load(ordering: .relaxed))
        } catch let busy as RunLockBusy {
            printError("segpipe: \(busy)")
            throw ExitCode(ExitStatus.locked)
        }
    }
}
