import Foundation
import Raster
import Testing
@testable import Pipeline

/// A scene whose band 0 is 100 × the class id of each pixel and whose mask holds those ids,
/// so any misalignment between image and labels shows.
func writeLabelledScene(folder: TemporaryDirectory, name: String, width: Int, height: Int) throws {
    try FileManager.default.createDirectory(atPath: folder.file("images"), withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: folder.file("masks"), withIntermediateDirectories: true)
    func classID(_ x: Int, _ y: Int) -> UInt8 { UInt8((x / 5 + 2 * (y / 7) + (x * y) % 3) % 6) }
    try writeScene(folder.file("images/\(name).tif"), width: width, height: height) { b, x, y in
        b == 0 ? Float(classID(x, y)) * 100 : Float(x + y)
    }
    let mask = try ClassMapWriter(path: folder.file("masks/\(name).png"), width: width, height: height, legend: .default)
    try mask.writeRows((0..<(width * height)).map { classID($0 % width, $0 / width) })
    try mask.finish()
}

func makeSampler(_ folder: TemporaryDirectory, tileSize: Int = 16, validationFraction: Double = 0.25) throws -> (TileSampler, MaskCache) {
    let dataset = try TrainingDataset.scan(images: folder.file("images"), masks: folder.file("masks"), channels: 2, classes: 5)
    let rows: (TrainingScene) -> Int = { $0.height - Int((Double($0.height) * validationFraction).rounded()) }
    let cache = try MaskCache(dataset: dataset, classes: 5, legend: .default, trainingRows: rows)
    let sources = dataset.scenes.map {
        TileSampler.Source(scene: $0, labelPath: cache.labelPaths[$0.name]!, trainingRows: rows($0))
    }
    let sampler = TileSampler(sources: sources, tileSize: tileSize, classes: 5, normalization: .identity(bands: 2),
                              seed: 42, rareClassProbability: 0.5, classFrequencies: cache.classFrequencies)
    return (sampler, cache)
}

@Test func augmentedTilesKeepImageAndLabelsAligned() throws {
    let folder = try TemporaryDirectory()
    try writeLabelledScene(folder: folder, name: "a", width: 40, height: 36)
    try writeLabelledScene(folder: folder, name: "b", width: 12, height: 50)  // narrower than a tile: mirrored
    let (sampler, cache) = try makeSampler(folder)
    let labelledTrainingPixels: Int = 40 * 27 + 12 * 37
    #expect(cache.classPixelCounts.reduce(0, +) == labelledTrainingPixels)
    let readers = ReaderCache()
    for index in 0..<6 {
        let batch = try sampler.trainingBatch(index: index, size: 4, readers: readers)
        #expect(batch.inputs.shape == [4, 16, 16, 2])
        for p in 0..<(4 * 16 * 16) {
            let id = batch.labels[p]
            #expect(batch.inputs.values[p * 2] == Float(id) * 100)
            for k in 0..<5 {
                let expected: Float = Int(id) == k + 1 ? 1 : 0
                #expect(batch.targets.values[p * 5 + k] == expected)
            }
            #expect(batch.ignore.values[p] == 0)
        }
    }
}

@Test func batchesAreAPureFunctionOfSeedAndIndex() throws {
    let folder = try TemporaryDirectory()
    try writeLabelledScene(folder: folder, name: "a", width: 40, height: 36)
    let (sampler, cache) = try makeSampler(folder)
    defer { withExtendedLifetime(cache) {} }
    let one = try sampler.trainingBatch(index: 3, size: 2, readers: ReaderCache())
    let again = try sampler.trainingBatch(index: 3, size: 2, readers: ReaderCache())
    let other = try sampler.trainingBatch(index: 4, size: 2, readers: ReaderCache())
    #expect(one.inputs == again.inputs)
    #expect(one.inputs != other.inputs)

    // Two loader threads deliver the same batches in the same order as one.
    func sequence(threads: Int) throws -> [[Float]] {
        let queue = BatchQueue<TrainingBatch>(first: 0, end: 6, capacity: 2, producers: threads) { index, readers in
            try sampler.trainingBatch(index: index, size: 2, readers: readers)
        }
        defer { queue.stop() }
        var out: [[Float]] = []
        while let batch = try queue.next() { out.append(batch.inputs.values) }
        return out
    }
    let single = try sequence(threads: 1)
    #expect(single.count == 6)
    #expect(try sequence(threads: 2) == single)
}

@Test func validationTilesStayInTheHeldOutRows() throws {
    let folder = try TemporaryDirectory()
    try writeLabelledScene(folder: folder, name: "a", width: 40, height: 36)
    let (sampler, cache) = try makeSampler(folder)
    defer { withExtendedLifetime(cache) {} }
    let windows = sampler.validationWindows
    // 9 held-out rows, 40 columns: one row of tiles at x = 0, 16, 24, centred vertically.
    #expect(windows.map(\.window.x) == [0, 16, 24])
    #expect(windows.allSatisfy { $0.window.y == 27 - 3 })
    let batch = try sampler.validationBatch(windows[...], readers: ReaderCache())
    // Scored pixels: each held-out pixel exactly once, never a mirrored or a neighbour's one.
    var scored: [Int] = []
    for (slot, entry) in windows.enumerated() {
        for y in 0..<16 {
            for x in 0..<16 where batch.ignore.values[slot * 256 + y * 16 + x] == 0 {
                let p = slot * 256 + y * 16 + x
                #expect(batch.inputs.values[p * 2] == Float(batch.labels[p]) * 100)
                scored.append((entry.window.y + y) * 40 + entry.window.x + x)
            }
        }
    }
    #expect(scored.sorted() == Array((27 * 40)..<(36 * 40)))
}

@Test func validationWindowsScoreTheirOwnPixels() throws {
    let folder = try TemporaryDirectory()
    try writeLabelledScene(folder: folder, name: "a", width: 40, height: 36)
    let (sampler, cache) = try makeSampler(folder)
    defer { withExtendedLifetime(cache) {} }
    // Origins 0, 16, 24 over 40: the last window's first 8 columns are its neighbour's.
    #expect([0, 16, 24].map { sampler.scoredRange(origin: $0, length: 40) } == [0..<16, 16..<32, 32..<40])
    #expect(sampler.scoredRange(origin: -3, length: 9) == 0..<9)
}

@Test func aValidationLossWeighsEveryLabelledPixelAlike() {
    var sums = WeightedBinaryCrossEntropy.Sums(classes: 1)
    #expect(sums.loss(classWeights: [1]) == nil)
    // One batch with one labelled pixel, one with three: the loss is over four pixels, not the
    // mean of two batch means.
    sums.add(probabilities: [0.5, 0.9], targets: [1, 0], ignore: [0, 1])
    sums.add(probabilities: [0.9, 0.9, 0.9], targets: [1, 1, 1], ignore: [0, 0, 0])
    let expected = (-log(0.5) - 3 * log(Double(Float(0.9)))) / 4
    #expect(abs((sums.loss(classWeights: [1]) ?? 0) - expected) < 1e-6)
}

@Test func datasetProblemsNameEveryFile() throws {
    let folder = try TemporaryDirectory()
    try writeLabelledScene(folder: folder, name: "a", width: 40, height: 36)
    try writeLabelledScene(folder: folder, name: "b", width: 20, height: 20)
    try writeScene(folder.file("images/c.tif"), width: 8, height: 8) { _, _, _ in 0 }
    // b's mask no longer matches its scene's size.
    let mask = try ClassMapWriter(path: folder.file("masks/b.png"), width: 21, height: 20, legend: .default)
    try mask.writeRows([UInt8](repeating: 1, count: 21 * 20))
    try mask.finish()
    do {
        _ = try TrainingDataset.scan(images: folder.file("images"), masks: folder.file("masks"), channels: 2, classes: 5)
        Issue.record("a broken dataset was accepted")
    } catch let problems as DatasetProblems {
        #expect(problems.problems.count == 2)
        #expect(problems.problems.contains { $0.contains("b.png") && $0.contains("21×20") })
        #expect(problems.problems.contains { $0.contains("c.tif") && $0.contains("no mask") })
    }
    #expect(throws: DatasetProblems.self) {
        try TrainingDataset.scan(images: folder.file("images"), masks: folder.file("masks"), channels: 3, classes: 5)
    }
}

/// Masks pair whatever the case of their extension, gray+alpha PNGs are masks too (transparent
/// = no label), and two masks for one scene are named rather than one picked.
@Test func masksPairByStemWithAnyExtensionCase() throws {
    let folder = try TemporaryDirectory()
    try writeLabelledScene(folder: folder, name: "a", width: 8, height: 8)
    try FileManager.default.moveItem(atPath: folder.file("masks/a.png"), toPath: folder.file("masks/a.PNG"))
    try writeScene(folder.file("images/b.tif"), width: 8, height: 8) { _, _, _ in 1 }
    let grayAlpha = try PNGWriter(path: folder.file("masks/b.png"), width: 8, height: 8, layout: .grayAlpha(bitDepth: 8))
    for y in 0..<8 { try grayAlpha.writeRow((0..<8).flatMap { x -> [UInt16] in [UInt16(x % 3), y == 0 ? 0 : 255] }) }
    try grayAlpha.finish()
    let dataset = try TrainingDataset.scan(images: folder.file("images"), masks: folder.file("masks"), channels: 2, classes: 5)
    #expect(dataset.scenes.map { ($0.maskPath as NSString).lastPathComponent } == ["a.PNG", "b.png"])
    let ids = try PNGMaskReader(path: folder.file("masks/b.png"), legend: .default).readRows(2)
    #expect(ids[0..<8].allSatisfy { $0 == ClassLegend.ignoreValue })
    #expect(Array(ids[8..<16]) == (0..<8).map { UInt8($0 % 3) })

    try FileManager.default.copyItem(atPath: folder.file("masks/b.png"), toPath: folder.file("masks/b.tif"))
    let problems = #expect(throws: DatasetProblems.self) {
        try TrainingDataset.scan(images: folder.file("images"), masks: folder.file("masks"), channels: 2, classes: 5)
    }
    #expect(problems?.problems == ["\(folder.file("images/b.tif")): more than one mask in \(folder.file("masks")): b.png and b.tif"])

    // Images and masks in one folder: a scene is not a mask of its own.
    try FileManager.default.removeItem(atPath: folder.file("masks/b.tif"))
    for name in ["a.tif", "b.tif"] { try FileManager.default.copyItem(atPath: folder.file("images/" + name), toPath: folder.file("masks/" + name)) }
    let together = try TrainingDataset.scan(images: folder.file("masks"), masks: folder.file("masks"), channels: 2, classes: 5)
    #expect(together.scenes.map { ($0.maskPath as NSString).lastPathComponent } == ["a.PNG", "b.png"])
}

@Test func nodataInATIFFMaskMeansNoLabel() throws {
    let folder = try TemporaryDirectory()
    try FileManager.default.createDirectory(atPath: folder.file("images"), withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: folder.file("masks"), withIntermediateDirectories: true)
    try writeScene(folder.file("images/a.tif"), width: 16, height: 16) { b, x, _ in b == 0 ? Float(x % 2) * 100 : 0 }
    // Labels alternate 0/1 by column; the top-left 4×4 block is the mask's nodata value.
    let mask = try TIFFWriter(path: folder.file("masks/a.tif"), width: 16, height: 16, bands: 1, sampleType: .uint8,
                              layout: .stripped(rowsPerStrip: 16), compression: .none, nodata: 200)
    var labels = RasterBuffer(bands: 1, width: 16, height: 16)
    for y in 0..<16 { for x in 0..<16 { labels[0, y, x] = x < 4 && y < 4 ? 200 : Float(x % 2) } }
    try mask.writeRows(labels)
    try mask.finish()
    let (sampler, cache) = try makeSampler(folder, tileSize: 16, validationFraction: 0)
    defer { withExtendedLifetime(cache) {} }
    #expect(cache.classPixelCounts.reduce(0, +) == 16 * 16 - 16)
    let batch = try sampler.trainingBatch(index: 0, size: 1, readers: ReaderCache())
    #expect(batch.labels.filter { $0 == 255 }.count == 16)
    #expect(batch.ignore.values.filter { $0 == 1 }.count == 16)
}

@Test func theReaderCacheClosesTheLeastRecentlyUsedFile() throws {
    let folder = try TemporaryDirectory()
    for name in ["a", "b", "c"] {
        try writeScene(folder.file("\(name).tif"), width: 4, height: 4) { _, _, _ in 0 }
    }
    let cache = ReaderCache(capacity: 2)
    let a = try cache.reader(folder.file("a.tif"))
    _ = try cache.reader(folder.file("b.tif"))
    #expect(try cache.reader(folder.file("a.tif")) === a)  // a is now the most recent
    _ = try cache.reader(folder.file("c.tif"))             // closes b, keeps a
    #expect(cache.openCount == 2)
    #expect(try cache.reader(folder.file("a.tif")) === a)
}

/// A TIFF mask with one band per class is multi-label: its training rows are counted per class,
/// its nodata value means no label, and a value other than 0, 1 or 255 anywhere (validation rows
/// too) is refused at its pixel.
@Test func multiLabelMasksAreCountedAndTheirValuesChecked() throws {
    let folder = try TemporaryDirectory()
    try FileManager.default.createDirectory(atPath: folder.file("images"), withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: folder.file("masks"), withIntermediateDirectories: true)
    try writeScene(folder.file("images/a.tif"), width: 8, height: 8) { _, x, y in Float(x + y) }
    func writeMask(nodata: Double? = nil, _ value: (Int, Int, Int) -> UInt8) throws {
        let writer = try TIFFWriter(path: folder.file("masks/a.tif"), width: 8, height: 8, bands: 5, sampleType: .uint8,
                                    layout: .stripped(rowsPerStrip: 8), compression: .none, nodata: nodata)
        var buffer = RasterBuffer(bands: 5, width: 8, height: 8)
        for c in 0..<5 { for y in 0..<8 { for x in 0..<8 { buffer[c, y, x] = Float(value(c, x, y)) } } }
        try writer.writeRows(buffer)
        try writer.finish()
    }
    // Class 1 in the left half, class 3 in the top rows as well (255), nothing elsewhere.
    try writeMask { c, x, y in c == 0 && x < 4 ? 1 : c == 2 && y < 2 ? 255 : 0 }
    let (_, cache) = try makeSampler(folder, tileSize: 8)
    // Six training rows of 8: 24 pixels of class 1, 16 of class 3 (8 of them also class 1), 16 of neither.
    #expect(cache.classPixelCounts == [16, 24, 0, 16, 0, 0])

    // The mask's nodata value in any band: no label, neither counted nor refused.
    try writeMask(nodata: 9) { c, x, y in x == 0 && y == 0 && c == 4 ? 9 : c == 0 && x < 4 ? 1 : c == 2 && y < 2 ? 255 : 0 }
    #expect(try makeSampler(folder, tileSize: 8).1.classPixelCounts == [16, 23, 0, 15, 0, 0])

    try writeMask { c, x, y in c == 4 && x == 5 && y == 7 ? 7 : 0 }
    let error = #expect(throws: PipelineError.self) { try makeSampler(folder, tileSize: 8) }
    #expect(error == PipelineError(path: folder.file("masks/a.tif"), reason: "value 7.0 in band 5 at pixel (5, 7) is not 0 (absent) or 1 or 255 (present)"))
}
