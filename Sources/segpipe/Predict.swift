import ArgumentParser
import Foundation
import Pipeline

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Predict colour class maps for scenes with a sliding window.",
        discussion: """
            For IN/scene.tif writes OUT/scene.png (palette PNG, 0 = background, 255 = nodata, \
            transparent), OUT/scene.pgw when the scene is georeferenced, and with --probabilities \
            OUT/scene.prob.tif (Float32, one band per class). A bad scene is reported and skipped; \
            the exit status is then 1. Reading and writing run on their own threads beside the \
            network; the last line says how much of the wall time the network was busy.
            """
    )

    @Option(help: ArgumentHelp("Model file.", valueName: "model.safetensors")) var model: String
    @Option(help: ArgumentHelp("Output folder.", valueName: "dir")) var out: String
    @Option(parsing: .unconditional, help: "Pixels shared by neighbouring tiles (default \(Predictor.defaultOverlap), at most half the model's tile).") var overlap: Int?
    @Flag(help: "Average all eight flips and rotations.") var tta = false
    @Flag(help: "Also write per-class probabilities as a Float32 GeoTIFF.") var probabilities = false
    @Option(parsing: .unconditional, help: "Probability at which a class is painted.") var threshold: Float = 0.5
    @Option(help: "argmax, or ordered (the reference's painting order).") var paint: ClassPainter.Mode = .argmax
    @Option(parsing: .unconditional) var batchSize = 8
    @Option(help: "The convolutions' arithmetic.") var precision: Pipeline.Precision = .f32
    @Option(help: "How 3×3 convolutions are computed (same result up to rounding).") var convolution: Pipeline.ConvolutionAlgorithm = .winograd
    @Flag(help: "Read, run the network and write one after another on one thread, to measure what overlapping them gains.")
    var sequential = false
    @Argument(help: "Scenes (TIFF files) or folders of them.") var inputs: [String]

    func validate() throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: out, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw ValidationError("--out \(out) is a file, not a folder")
        }
    }

    func run() throws {
        let started = Date()
        var options = PredictionOptions(modelPath: model, outputDirectory: out)
        options.overlap = overlap
        options.testTimeAugmentation = tta
        options.writeProbabilities = probabilities
        options.threshold = threshold
        options.paint = paint
        options.batchSize = batchSize
        options.precision = precision
        options.convolution = convolution
        options.pipelined = !sequential

        let predictor = try Predictor(options: options)
        if let warning = predictor.config.speedWarning { printLine("note: " + warning) }
        let list = Predictor.sceneList(inputs, longestOutputSuffix: probabilities ? ".prob.tif" : ".png")
        let (scenes, problems) = (list.scenes, list.problems)
        if scenes.isEmpty && problems.isEmpty {
            printError("segpipe predict: no .tif or .tiff scenes in \(inputs.joined(separator: ", "))")
            throw ExitCode(1)
        }
        let lock: RunLock
        do {
            lock = try Predictor.lockOutputFolder(out)
        } catch let busy as RunLockBusy {
            printError("segpipe predict: \(busy)")
            throw ExitCode(ExitStatus.locked)
        }
        defer { withExtendedLifetime(lock) {} }
        var failures = problems.map { "\($0)" }
        failures.forEach { printError($0) }
        let networkSeconds = try predictor.predict(scenes: scenes) { scene, result in
            switch result {
            case .success(let prediction):
                printLine(String(format: "%@ -> %@  %d tiles  %.1f s (network %.1f s)", scene, prediction.outputs[0],
                                 prediction.tiles, prediction.seconds, prediction.networkSeconds))
            case .failure(let error):
                failures.append("\(error)")
                printError("\(error)")
            }
            return true
        }
        // Wall time includes loading the model: the share is of the whole command.
        let wall = Date().timeIntervalSince(started)
        print(String(format: "network busy %.1f %% of %.1f s", 100 * networkSeconds / max(wall, 1e-9), wall))
        if !failures.isEmpty {
            printError("\(failures.count) of \(scenes.count + problems.count) scenes failed:")
            failures.forEach { printError("  \($0)") }
            throw ExitCode(1)
        }
    }
}
