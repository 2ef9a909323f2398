import Foundation
import Raster
import Testing
@testable import Pipeline

/// Predicts `scenes` into `folder/name`, one after another or pipelined, collecting every result.
private func predictAll(_ scenes: [String], model: String, into out: String, pipelined: Bool, tta: Bool = false,
                        stopAfter: Int = .max) throws -> [(scene: String, result: Result<ScenePrediction, any Error>)] {
    var options = PredictionOptions(modelPath: model, outputDirectory: out)
    options.overlap = 16
    options.batchSize = 3
    options.writeProbabilities = true
    options.testTimeAugmentation = tta
    options.pipelined = pipelined
    var results: [(scene: String, result: Result<ScenePrediction, any Error>)] = []
    try Predictor(options: options).predict(scenes: scenes) { scene, result in
        results.append((scene, result))
        return results.count < stopAfter
    }
    return results
}

/// Three scenes of different shapes (one tile, ragged grids, nodata pixels), so batches end mid
/// grid row and mid scene.
private func writeScenes(in folder: TemporaryDirectory) throws -> [String] {
    let paths = ["a.tif", "b.tif", "c.tif"].map(folder.file)
    try randomScene(paths[0], width: 70, height: 45, seed: 1)
    try randomScene(paths[1], width: 32, height: 32, seed: 2)
    var generator = SplitMix64(seed: 3)
    let noise = (0..<(2 * 100 * 61)).map { _ in Float(generator.uniform(-1, 1)) }
    try writeScene(paths[2], width: 100, height: 61, nodata: -9) { b, x, y in
        (x == 7 && y % 5 == 0) || (b == 1 && y == 40 && x > 50) ? -9 : noise[(b * 61 + y) * 100 + x]
    }
    return paths
}

/// Files in a folder whose names start with a dot: temporary outputs left behind.
private func hiddenFiles(_ folder: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasPrefix(".") }
}

@Test(arguments: [false, true])
func pipelinedPredictionIsBitIdenticalToSequential(tta: Bool) throws {
    let folder = try TemporaryDirectory()
    let modelPath = folder.file("m.safetensors")
    _ = try writeSmallModel(modelPath, tileSize: 32)
    let scenes = try writeScenes(in: folder)
    let sequential = try predictAll(scenes, model: modelPath, into: folder.file("sequential"), pipelined: false, tta: tta)
    let pipelined = try predictAll(scenes, model: modelPath, into: folder.file("pipelined"), pipelined: true, tta: tta)

    #expect(sequential.map(\.scene) == scenes)
    #expect(pipelined.map(\.scene) == scenes)
    for (one, other) in zip(sequential, pipelined) {
        let a = try one.result.get(), b = try other.result.get()
        #expect(a.tiles == b.tiles)
        #expect(a.classFractions == b.classFractions)
        #expect(a.outputs.map { ($0 as NSString).lastPathComponent } == b.outputs.map { ($0 as NSString).lastPathComponent })
        #expect(b.networkSeconds > 0 && b.networkSeconds <= b.seconds)
    }
    var nodataPixels = 0
    for name in ["a", "b", "c"] {
        let pngA = try Data(contentsOf: URL(fileURLWithPath: folder.file("sequential/\(name).png")))
        let pngB = try Data(contentsOf: URL(fileURLWithPath: folder.file("pipelined/\(name).png")))
        #expect(pngA == pngB, "\(name).png differs")
        let readerA = try TIFFReader(path: folder.file("sequential/\(name).prob.tif"))
        let readerB = try TIFFReader(path: folder.file("pipelined/\(name).prob.tif"))
        let window = PixelWindow(x: 0, y: 0, width: readerA.info.width, height: readerA.info.height)
        // Bit patterns: the nodata pixels are NaN, which equals nothing.
        #expect(try readerA.readWindow(window).values.map(\.bitPattern) == readerB.readWindow(window).values.map(\.bitPattern),
                "\(name).prob.tif differs")
        let ids = try PNGMaskReader(path: folder.file("pipelined/\(name).png"), legend: .generic(classCount: 3))
            .readRows(readerA.info.height)
        nodataPixels += ids.filter { $0 == ClassLegend.ignoreValue }.count
    }
    // c.tif's nodata: column 7 of every 5th row (13 pixels) and x 51...99 of row 40 in band 1 (49).
    #expect(nodataPixels == 13 + 49)
}

@Test func aFailingSceneAmongOthersIsNamedAndTheOthersComplete() throws {
    let folder = try TemporaryDirectory()
    let modelPath = folder.file("m.safetensors")
    _ = try writeSmallModel(modelPath, tileSize: 32)
    let good = try writeScenes(in: folder)
    try Data("not a tiff".utf8).write(to: URL(fileURLWithPath: folder.file("junk.tif")))
    try writeScene(folder.file("three.tif"), width: 40, height: 40, bands: 3) { _, _, _ in 0 }
    let scenes = [good[0], folder.file("junk.tif"), good[1], folder.file("three.tif"), good[2]]

    let results = try predictAll(scenes, model: modelPath, into: folder.file("out"), pipelined: true)
    #expect(results.map(\.scene) == scenes)
    let failures = results.compactMap { entry -> String? in
        guard case .failure(let error) = entry.result else { return nil }
        return "\(error)"
    }
    #expect(failures.count == 2)
    #expect(failures.first?.hasPrefix(folder.file("junk.tif")) == true)
    #expect(failures.last == "\(PipelineError(path: folder.file("three.tif"), reason: "has 3 bands but the model takes 2"))")
    let names = try FileManager.default.contentsOfDirectory(atPath: folder.file("out")).sorted()
    #expect(names == ["a.png", "a.prob.tif", "b.png", "b.prob.tif", "c.png", "c.prob.tif"])
}

@Test func stoppingAfterAResultLeavesOnlyWholeOutputs() throws {
    let folder = try TemporaryDirectory()
    let modelPath = folder.file("m.safetensors")
    _ = try writeSmallModel(modelPath, tileSize: 32)
    let scenes = try writeScenes(in: folder) + (0..<3).map { n in
        let path = folder.file("more\(n).tif")
        try randomScene(path, width: 150, height: 120, seed: UInt64(10 + n))
        return path
    }
    let results = try predictAll(scenes, model: modelPath, into: folder.file("out"), pipelined: true, stopAfter: 1)
    #expect(results.count == 1)
    #expect(hiddenFiles(folder.file("out")).isEmpty)
    // Scenes that landed before the stop took effect are whole; the later ones were never started.
    let maps = try FileManager.default.contentsOfDirectory(atPath: folder.file("out")).filter { $0.hasSuffix(".png") }
    #expect(maps.contains("a.png"))
    #expect(!maps.contains("more2.png"))
    for map in maps {
        let reader = try PNGReader(path: folder.file("out/\(map)"))
        _ = try reader.readRows(reader.info.height)
    }
}

@Test func aChannelKeepsOrderAndHoldsAtMostItsCapacity() {
    let channel = BoundedChannel<Int>(capacity: 2)
    let sent = BoundedChannel<Int>(capacity: 1000)
    let done = DispatchSemaphore(value: 0)
    Thread {
        for n in 0..<200 {
            channel.send(n)
            sent.send(n)
        }
        channel.close()
        done.signal()
    }.start()
    var received: [Int] = []
    var mostAhead = 0
    while let n = channel.receive() {
        received.append(n)
        var lastSent = -1
        while let s = sent.poll() { lastSent = s }
        if lastSent >= 0 { mostAhead = max(mostAhead, lastSent - n) }
        if n % 50 == 0 { usleep(1_000) }
    }
    done.wait()
    #expect(received == Array(0..<200))
    // The sender is at most two items (the channel's capacity) beyond the one just received.
    #expect(mostAhead <= 2)
}

@Test func cancellingAChannelReleasesAWaitingSender() {
    let channel = BoundedChannel<Int>(capacity: 1)
    let finished = DispatchSemaphore(value: 0)
    let outcome = BoundedChannel<Bool>(capacity: 2)
    Thread {
        outcome.send(channel.send(1))
        outcome.send(channel.send(2))
        finished.signal()
    }.start()
    usleep(20_000)
    channel.cancel()
    #expect(finished.wait(timeout: .now() + 5) == .success)
    #expect(outcome.poll() == true)
    #expect(outcome.poll() == false)
    #expect(channel.receive() == nil)
}

/// The network time `predict(scenes:)` returns counts every batch it ran, a scene that then
/// failed on writing included: `network busy` left such scenes out.
@Test(arguments: [false, true])
func networkTimeCountsScenesThatFailAfterTheNetwork(pipelined: Bool) throws {
    let folder = try TemporaryDirectory()
    let modelPath = folder.file("m.safetensors")
    _ = try writeSmallModel(modelPath, tileSize: 32)
    let scenes = try writeScenes(in: folder)
    // A folder where c's class map must go: c is tiled and run, then cannot be written.
    try FileManager.default.createDirectory(atPath: folder.file("out/c.png/x"), withIntermediateDirectories: true)
    var options = PredictionOptions(modelPath: modelPath, outputDirectory: folder.file("out"))
    (options.overlap, options.batchSize, options.pipelined) = (16, 3, pipelined)
    var succeeded = 0.0
    var failed: [String] = []
    let total = try Predictor(options: options).predict(scenes: scenes) { scene, result in
        switch result {
        case .success(let prediction): succeeded += prediction.networkSeconds
        case .failure: failed.append(scene)
        }
        return true
    }
    #expect(failed == [scenes[2]])
    #expect(succeeded > 0 && total > succeeded)
}
