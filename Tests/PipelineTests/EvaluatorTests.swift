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

/// Writes `values` (row-major, band-interleaved, `width` wide) as an uncompressed 8-bit
/// single-strip TIFF, with a GDAL nodata tag when `nodata` is given. Built byte by byte so the
/// test needs no TIFF writer.
private func writeClassTIFF(_ path: String, width: Int, _ values: [UInt8], bands: Int = 1,
                            nodata: String? = nil) throws {
    var entries: [(tag: UInt16, type: UInt16, count: UInt32, value: UInt32)] = []
    let height = values.count / (width * bands)
    var nodataBytes: [UInt8] = nodata.map { Array($0.utf8) + [0] } ?? []
    if nodataBytes.count % 2 == 1 { nodataBytes.append(0) }
    let tagCount = nodata == nil ? 10 : 11
    let ifdSize = 2 + 12 * tagCount + 4
    let dataOffset = UInt32(8 + ifdSize)
    let nodataOffset = dataOffset + UInt32(values.count)
    let short: UInt16 = 3, long: UInt16 = 4, ascii: UInt16 = 2
    entries.append((256, long, 1, UInt32(width)))
    entries.append((257, long, 1, UInt32(height)))
    entries.append((258, short, 1, 8))
    entries.append((259, short, 1, 1))  // no compression
    entries.append((262, short, 1, 1))  // min-is-black
    entries.append((273, long, 1, dataOffset))
    entries.append((277, short, 1, UInt32(bands)))
    entries.append((278, long, 1, UInt32(height)))
    entries.append((279, long, 1, UInt32(values.count)))
    entries.append((284, short, 1, 1))  // contiguous
    if let nodata { entries.append((42113, ascii, UInt32(nodata.utf8.count + 1), nodataOffset)) }

    var bytes: [UInt8] = [0x49, 0x49, 42, 0, 8, 0, 0, 0]
    func append16(_ v: UInt16) { bytes += [UInt8(v & 0xFF), UInt8(v >> 8)] }
    func append32(_ v: UInt32) { for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(v >> UInt32(shift) & 0xFF)) } }
    append16(UInt16(entries.count))
    for entry in entries {
        append16(entry.tag)
        append16(entry.type)
        append32(entry.count)
        if entry.type == short {
            append16(UInt16(entry.value))
            append16(0)
        } else if entry.type == ascii && entry.count <= 4 {
            // Values of four bytes or fewer live in the entry itself.
            bytes += nodataBytes.prefix(4) + [UInt8](repeating: 0, count: 4 - min(4, nodataBytes.count))
        } else {
            append32(entry.value)
        }
    }
    append32(0)
    bytes += values
    if nodataBytes.count > 4 { bytes += nodataBytes }
    try Data(bytes).write(to: URL(fileURLWithPath: path))
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

@Test func unreadableAndAmbiguousTruthAreFailures() throws {
    let folders = try EvaluationFolders()
    defer { folders.remove() }
    try writeClassMap(folders.predictions + "/a.png", width: width, truthIDs)
    try writeClassMap(folders.predictions + "/b.png", width: width, truthIDs)
    try writeClassMap(folders.predictions + "/c.png", width: width, truthIDs)
    // A TIFF header whose first directory lies past the end of the file.
    try Data([0x49, 0x49, 42, 0, 8, 0, 0, 0]).write(to: URL(fileURLWithPath: folders.truth + "/a.tif"))
    try writeClassMap(folders.truth + "/b.png", width: width, truthIDs)
    try writeClassTIFF(folders.truth + "/b.tiff", width: width, truthIDs)
    try Data("not a png".utf8).write(to: URL(fileURLWithPath: folders.truth + "/c.png"))

    let report = try Evaluator().evaluate(predictions: folders.predictions, truth: folders.truth)
    #expect(report.scenes.isEmpty)
    #expect(report.failures.count == 3)
    #expect(report.failures[0].message.hasPrefix("\(folders.truth)/a.tif: not a readable TIFF"))
    #expect(report.failures[1].message.contains("more than one truth file: \(folders.truth)/b.png and \(folders.truth)/b.tiff"))
    #expect(report.failures[2].message.hasPrefix("\(folders.truth)/c.png: "))
    for failure in report.failures { #expect(!failure.message.contains("\n")) }
}

@Test func singleBandTIFFTruthIsReadAsClassIdsWithItsNodataIgnored() throws {
    let folders = try EvaluationFolders()
    defer { folders.remove() }
    var truth = truthIDs
    truth[11] = 200  // the declared nodata value
    try writeClassTIFF(folders.truth + "/scene1.tif", width: width, truth, nodata: "200")
    var predicted = truthIDs
    predicted[5] = 1
    predicted[11] = 3
    try writeClassMap(folders.predictions + "/scene1.png", width: width, predicted)

    var evaluator = Evaluator()
    evaluator.rowsPerRead = 2  // several windows, the last one short
    let report = try evaluator.evaluate(predictions: folders.predictions, truth: folders.truth)
    #expect(report.failures.isEmpty)
    let m = try #require(report.scenes.first).matrix
    #expect(m.ignoredPixels == 1)
    #expect(m.rows[0] == [4, 1, 0, 0, 0, 0])
    #expect(m.rows[1] == [0, 4, 0, 0, 0, 0])
    #expect(m.rows[5] == [0, 0, 0, 0, 0, 2])
}

@Test func tiffTruthWithSeveralBandsOrUnknownValuesFails() throws {
    let folders = try EvaluationFolders()
    defer { folders.remove() }
    try writeClassMap(folders.predictions + "/bands.png", width: width, truthIDs)
    try writeClassMap(folders.predictions + "/value.png", width: width, truthIDs)
    try writeClassTIFF(folders.truth + "/bands.tif", width: width, truthIDs + truthIDs, bands: 2)
    var truth = truthIDs
    truth[9] = 9
    try writeClassTIFF(folders.truth + "/value.tif", width: width, truth)

    let report = try Evaluator().evaluate(predictions: folders.predictions, truth: folders.truth)
    #expect(report.scenes.isEmpty)
    #expect(report.failures.map(\.message) == [
        "\(folders.truth)/bands.tif: has 2 bands; a class-map TIFF must be a single band of class ids",
        "\(folders.truth)/value.tif: value 9 at pixel (1, 2) is not a class id of the legend "
            + "(ids 0, 1, 2, 3, 4, 5; 255 = no label)",
    ])
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

/// NaN in a float truth is "no label", as in training, with or without a declared nodata value.
@Test func nanInAFloatTIFFTruthIsNoLabel() throws {
    let folders = try EvaluationFolders()
    defer { folders.remove() }
    var values = truthIDs.map(Float.init)
    values[11] = .nan
    let writer = try TIFFWriter(path: folders.truth + "/scene1.tif", width: width, height: truthIDs.count / width, bands: 1,
                                sampleType: .float32, layout: .stripped(rowsPerStrip: 2), compression: .none)
    try writer.writeRows(RasterBuffer(bands: 1, width: width, height: truthIDs.count / width, values: values))
    try writer.finish()
    try writeClassMap(folders.predictions + "/scene1.png", width: width, truthIDs)
    let report = try Evaluator().evaluate(predictions: folders.predictions, truth: folders.truth)
    #expect(report.failures.isEmpty, "\(report.failures)")
    let m = try #require(report.scenes.first).matrix
    #expect(m.ignoredPixels == 1)
}
