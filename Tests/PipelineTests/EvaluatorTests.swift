import Foundation
import Raster
import Testing
@testable import Pipeline

/// A fresh folder under the system temp dir with `predictions` and `truth` inside.
private struct EvaluationFolders {
    let root: String
    var predictions: String { root + "/predictions" }
    var truth: String { root + "/truth" }

    init() throws {
        root = NSTemporaryDirectory() + "segpipe-evaluator-" + UUID().uuidString
        for folder in [root + "/predictions", root + "/truth"] {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }
}

/// Writes `ids` (row-major, `width` wide) as a palette class map.
private func writeClassMap(_ path: String, width: Int, _ ids: [UInt8], legend: ClassLegend = .default) throws {
    let writer = try ClassMapWriter(path: path, width: width, height: ids.count / width, legend: legend)
    try writer.writeRows(ids)
    try writer.finish()
}

private let width = 4
/// 4×3: background, buildings (1) and water (5); one unlabelled pixel.
private let truthIDs: [UInt8] = [
    0, 0, 1, 1,
    0, 0, 1, 1,
    5, 5, 0, 255,
]

@Test func aPerfectPredictionScoresOne() throws {
    let folders = try EvaluationFolders()
    defer { folders.remove() }
    try writeClassMap(folders.truth + "/scene1.png", width: width, truthIDs)
    var predicted = truthIDs
    predicted[11] = 3  // under the unlabelled truth pixel: not counted
    try writeClassMap(folders.predictions + "/scene1.png", width: width, predicted)

    let report = try Evaluator().evaluate(predictions: folders.predictions, truth: folders.truth)
    #expect(report.failures.isEmpty)
    #expect(report.scenes.map(\.scene) == ["scene1"])
    let total = report.total
    #expect(total.ignoredPixels == 1)
    #expect(total.evaluatedPixels == 11)
    for id in [0, 1, 5] {
        #expect(total.metrics(of: id).iou == 1)
        #expect(total.metrics(of: id).f1 == 1)
    }
    for id in [2, 3, 4] { #expect(total.metrics(of: id).iou.isNaN) }
    #expect(total.overall.meanIoU == 1)
    #expect(total.overall.pixelAccuracy == 1)
    #expect(total.overall.presentClasses == 3)
}

@Test func onePixelOffGivesExactScores() throws {
    let folders = try EvaluationFolders()
    defer { folders.remove() }
    try writeClassMap(folders.truth + "/scene1.png", width: width, truthIDs)
    var predicted = truthIDs
    predicted[5] = 1  // a background pixel predicted as buildings
    try writeClassMap(folders.predictions + "/scene1.png", width: width, predicted)

    let report = try Evaluator().evaluate(predictions: folders.predictions, truth: folders.truth)
    let m = try #require(report.scenes.first).matrix
    // Background: TP 4, FN 1 → IoU 4/5, precision 1, recall 4/5, F1 8/9.
    let background = m.metrics(of: 0)
    #expect(background.iou == 0.8)
    #expect(background.precision == 1)
    #expect(background.recall == 0.8)
    #expect(abs(background.f1 - 8.0 / 9.0) < 1e-12)
    #expect(background.support == 5)
    // Buildings: TP 4, FP 1 → IoU 4/5, precision 4/5, recall 1.
    let buildings = m.metrics(of: 1)
    #expect(buildings.iou == 0.8)
    #expect(buildings.precision == 0.8)
    #expect(buildings.recall == 1)
    #expect(m.metrics(of: 5).iou == 1)
    #expect(abs(m.overall.pixelAccuracy - 10.0 / 11.0) < 1e-12)
    #expect(abs(m.overall.meanIoU - (0.8 + 0.8 + 1) / 3) < 1e-12)
    #expect(m[0, 1] == 1)
}

@Test func rowsAreStreamedInStepsWithTheSameResult() throws {
    let folders = try EvaluationFolders()
    defer { folders.remove() }
    let w = 7, h = 23
    var generator = SplitMix64(seed: 42)
    let truth = (0..<(w * h)).map { _ in UInt8(generator.next() % 6) }
    let predicted = (0..<(w * h)).map { _ in UInt8(generator.next() % 7 == 6 ? 255 : generator.next() % 6) }
    try writeClassMap(folders.truth + "/s.png", width: w, truth)
    try writeClassMap(folders.predictions + "/s.png", width: w, predicted)
    var expected = ConfusionMatrix(classCount: 6)
    try expected.add(truth: truth, prediction: predicted)

    for step in [1, 5, 23, 64] {
        var evaluator = Evaluator()
        evaluator.rowsPerRead = step
        let matrix = try evaluator.evaluateScene(prediction: folders.predictions + "/s.png",
                                                 truth: folders.truth + "/s.png")
        #expect(matrix == expected, "rows per read \(step)")
    }
}

@Test func sizeMismatchAndMissingTruthAreFailuresNamingBothFilesAndOthersStillCount() throws {
    let folders = try EvaluationFolders()
    defer { folders.remove() }
    try writeClassMap(folders.truth + "/good.png", width: width, truthIDs)
    try writeClassMap(folders.predictions + "/good.png", width: width, truthIDs)
    try writeClassMap(folders.truth + "/narrow.png", width: 3, [0, 0, 0, 1, 1, 1])
    try writeClassMap(folders.predictions + "/narrow.png", width: 2, [0, 0, 1, 1, 1, 1])
    try writeClassMap(folders.predictions + "/orphan.png", width: 2, [0, 0])
    // Files that are not prediction PNGs are not scenes.
    try Data("0.5\n0\n0\n-0.5\n100\n200\n".utf8).write(to: URL(fileURLWithPath: folders.predictions + "/good.pgw"))

    let report = try Evaluator().evaluate(predictions: folders.predictions, truth: folders.truth)
    #expect(report.scenes.map(\.scene) == ["good"])
    #expect(report.total == report.scenes[0].matrix)
    #expect(report.failures.map(\.scene) == ["narrow", "orphan"])

    let mismatch = report.failures[0]
    #expect(mismatch.message == "\(folders.predictions)/narrow.png: is 2×3 but its truth "
        + "\(folders.truth)/narrow.png is 3×2")
    #expect(mismatch.truthPath == folders.truth + "/narrow.png")

    let orphan = report.failures[1]
    #expect(orphan.message == "\(folders.predictions)/orphan.png: no truth file \(folders.truth)/orphan.png, .tif or .tiff")
    #expect(orphan.truthPath == nil)
    for failure in report.failures { #expect(!failure.message.contains("\n")) }
    #expect(report.table.contains("2 scenes failed:"))
}

@Test func truthSuffixPairsMaskNames() throws {
    let folders = try EvaluationFolders()
    defer { folders.remove() }
    try writeClassMap(folders.truth + "/scene7_mask.png", width: width, truthIDs)
    try writeClassMap(folders.predictions + "/scene7.png", width: width, truthIDs)

    let unsuffixed = try Evaluator().evaluate(predictions: folders.predictions, truth: folders.truth)
    #expect(unsuffixed.scenes.isEmpty && unsuffixed.failures.count == 1)

    let report = try Evaluator(truthSuffix: "_mask").evaluate(predictions: folders.predictions, truth: folders.truth)
    #expect(report.failures.isEmpty)
    #expect(report.scenes.first?.truthPath == folders.truth + "/scene7_mask.png")
}

@Test func unreadableTIFFAndAmbiguousTruthAreFailures() throws {
    let folders = try EvaluationFolders()
    defer { folders.remove() }
    try writeClassMap(folders.predictions + "/a.png", width: width, truthIDs)
    try writeClassMap(folders.predictions + "/b.png", width: width, truthIDs)
    try writeClassMap(folders.predictions + "/c.png", width: width, truthIDs)
    // A TIFF header is enough: the evaluator recognises the signature before reading.
    try Data([0x49, 0x49, 42, 0, 8, 0, 0, 0]).write(to: URL(fileURLWithPath: folders.truth + "/a.tif"))
    try writeClassMap(folders.truth + "/b.png", width: width, truthIDs)
    try Data([0x49, 0x49, 42, 0, 8, 0, 0, 0]).write(to: URL(fileURLWithPath: folders.truth + "/b.tiff"))
    try Data("not a png".utf8).write(to: URL(fileURLWithPath: folders.truth + "/c.png"))

    let report = try Evaluator().evaluate(predictions: folders.predictions, truth: folders.truth)
    #expect(report.scenes.isEmpty)
    #expect(report.failures.count == 3)
    #expect(report.failures[0].message.hasPrefix("\(folders.truth)/a.tif: truth is a TIFF"))
    #expect(report.failures[1].message.contains("more than one truth file: \(folders.truth)/b.png and \(folders.truth)/b.tiff"))
    #expect(report.failures[2].message.hasPrefix("\(folders.truth)/c.png: "))
}

@Test func unknownIdsInAPredictionAreFailuresNamingTheFileAndPixel() throws {
    let folders = try EvaluationFolders()
    defer { folders.remove() }
    try writeClassMap(folders.truth + "/s.png", width: width, truthIDs)
    var predicted = truthIDs
    predicted[6] = 9
    try writeClassMap(folders.predictions + "/s.png", width: width, predicted, legend: .generic(classCount: 9))

    let report = try Evaluator().evaluate(predictions: folders.predictions, truth: folders.truth)
    let failure = try #require(report.failures.first)
    #expect(failure.message.hasPrefix("\(folders.predictions)/s.png: value 9 at pixel (2, 1)"))
}

@Test func emptyOrMissingFoldersThrow() throws {
    let folders = try EvaluationFolders()
    defer { folders.remove() }
    #expect(throws: RasterError.self) { try Evaluator().evaluate(predictions: folders.predictions, truth: folders.truth) }
    #expect(throws: RasterError.self) { try Evaluator().evaluate(predictions: folders.root + "/nothing", truth: folders.truth) }
}

@Test func jsonReportHasScenesTotalMatricesAndFailures() throws {
    let folders = try EvaluationFolders()
    defer { folders.remove() }
    try writeClassMap(folders.truth + "/scene1.png", width: width, truthIDs)
    var predicted = truthIDs
    predicted[5] = 1
    try writeClassMap(folders.predictions + "/scene1.png", width: width, predicted)
    try writeClassMap(folders.predictions + "/scene2.png", width: width, predicted)

    let report = try Evaluator().evaluate(predictions: folders.predictions, truth: folders.truth)
    guard case .object(let top) = report.json else { Issue.record("not an object"); return }
    #expect(top.map(\.0) == ["classes", "scenes", "total", "failures"])
    let json = report.json.serialized
    #expect(json.hasPrefix(#"{"classes": [{"id": 0, "name": "background"}, {"id": 1, "name": "buildings"}"#))
    #expect(json.contains(#""scenes": [{"scene": "scene1", "prediction": ""#))
    #expect(json.contains(#""classes": {"background": {"id": 0, "iou": 0.8, "f1": 0.888"#))
    #expect(json.contains(#""roads & tracks": {"id": 2, "iou": null, "f1": null, "precision": null, "recall": null, "support": 0, "predicted": 0}"#))
    #expect(json.contains(#""total": {"scenes": 1, "classes": {"#))
    #expect(json.contains(#""confusionMatrix": [[4, 1, 0, 0, 0, 0], [0, 4, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 2]], "ignoredPixels": 1}"#))
    #expect(json.contains(#""failures": [{"scene": "scene2", "prediction": ""#))
    #expect(json.contains(#""truth": null, "error": ""#))

    let table = report.table
    #expect(table.contains("scene1"))
    #expect(table.contains("total over 1 scene:"))
    #expect(table.contains("overall: pixel accuracy 0.9091, mean IoU 0.8667 (over 3 present classes)"))
    #expect(table.contains("roads & tracks        -       -         -       -"))
}
