import ArgumentParser
import Foundation
import Pipeline

/// `segpipe evaluate`: scores predicted class maps against ground truth.
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score predicted class maps against ground-truth masks.",
        discussion: """
            Pairs every PNG in the predictions folder with the truth mask of the same stem \
            (scene7.png ↔ scene7.png, or scene7_mask.png with --truth-suffix _mask) and reports \
            each scene's mean IoU and pixel accuracy, then, over all scenes, per class IoU, F1, \
            precision, recall and support, the overall scores and the confusion matrix; --json \
            gives all of these per scene as well. Pixels whose truth is 255 (no label) or \
            whose prediction is 255 (nodata) are left out and counted as ignored. Truth masks are \
            PNG class maps or single-band class-id TIFFs (.png, .tif, .tiff). Exits 1 when any \
            scene could not be evaluated.
            """)

    @Option(help: ArgumentHelp("Folder of predicted class-map PNGs.", valueName: "DIR"))
    var predictions: String

    @Option(help: ArgumentHelp("Folder of ground-truth masks.", valueName: "DIR"))
    var truth: String

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: ArgumentHelp("Class legend, JSON or YAML (default: background, buildings, roads & tracks, trees, crops, water).",
                               valueName: "FILE"))
    var legend: String?

    @Option(help: ArgumentHelp("Text between the scene name and the truth file's extension, e.g. _mask.",
                               valueName: "S"))
    var truthSuffix = ""

    func validate() throws {
        for (option, path) in [("--predictions", predictions), ("--truth", truth)] {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("\(option) \(path): no such folder")
            }
        }
        if let legend, !FileManager.default.fileExists(atPath: legend) {
            throw ValidationError("--legend \(legend): no such file")
        }
        if truthSuffix.contains("/") {
            throw ValidationError("--truth-suffix must not contain '/'")
        }
    }

    func run() throws {
        let evaluator = try Evaluator(legendPath: legend, truthSuffix: truthSuffix)
        let report = try evaluator.evaluate(predictions: predictions, truth: truth)
        try printProduct(json ? report.json.serialized : report.table)
        for failure in report.failures { printError("segpipe evaluate: \(failure.message)") }
        if !report.failures.isEmpty { throw ExitCode(ExitStatus.failure) }
    }
}
