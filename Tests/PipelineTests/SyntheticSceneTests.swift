import Foundation
import Raster
import Testing
@testable import Pipeline

@Test func scenesAreDeterministicAndIndependentOfRowBanding() {
    let scene = SyntheticScene(width: 96, height: 64, seed: 7)
    let whole = scene.renderRows(from: 0, count: 64)
    var banded: [UInt16] = []
    var bandedClasses: [UInt8] = []
    // Render in uneven bands, then reassemble band-major planes.
    var planes = [[UInt16]](repeating: [], count: SyntheticScene.bandCount)
    for (start, count) in [(0, 10), (10, 33), (43, 21)] {
        let part = scene.renderRows(from: start, count: count)
        for b in 0..<SyntheticScene.bandCount {
            planes[b] += part.bands[(b * count * 96)..<((b + 1) * count * 96)]
        }
        bandedClasses += part.classes
    }
    banded = planes.flatMap { $0 }
    #expect(banded == whole.bands)
    #expect(bandedClasses == whole.classes)
    let again = SyntheticScene(width: 96, height: 64, seed: 7).renderRows(from: 0, count: 64)
    #expect(again.bands == whole.bands)
    #expect(SyntheticScene(width: 96, height: 64, seed: 8).renderRows(from: 0, count: 64).bands != whole.bands)
}

@Test func defaultScenesContainEveryClassWithinTheElevenBitRange() {
    var seen = Set<UInt8>()
    let dataset = SampleDataset(sceneCount: 6, width: 400, height: 400, seed: SampleDataset.defaultSeed)
    for index in 1...dataset.sceneCount {
        let scene = SyntheticScene(width: 400, height: 400, seed: dataset.sceneSeed(index))
        let rows = scene.renderRows(from: 0, count: 400)
        seen.formUnion(rows.classes)
        #expect(rows.bands.allSatisfy { $0 <= 2047 })
    }
    #expect(seen == Set(SyntheticScene.ClassID.allCases.map(\.rawValue)))
}

/// No single band separates the classes: in every band, some pair of classes has overlapping
/// value ranges (5th to 95th percentile), so a model has to combine bands.
@Test func noSingleBandSeparatesTheClasses() {
    let scene = SyntheticScene(width: 400, height: 400, seed: SampleDataset(sceneCount: 1, width: 400, height: 400, seed: SampleDataset.defaultSeed).sceneSeed(1))
    let rows = scene.renderRows(from: 0, count: 400)
    let plane = 400 * 400
    for band in 0..<SyntheticScene.bandCount {
        var ranges: [UInt8: (Double, Double)] = [:]
        for id in Set(rows.classes) {
            let values = (0..<plane).filter { rows.classes[$0] == id }.map { Double(rows.bands[band * plane + $0]) }.sorted()
            guard values.count > 100 else { continue }
            ranges[id] = (values[values.count / 20], values[values.count * 19 / 20])
        }
        let ids = ranges.keys.sorted()
        var overlapping = false
        for a in ids {
            for b in ids where b > a {
                guard let ra = ranges[a], let rb = ranges[b] else { continue }
                if ra.0 <= rb.1 && rb.0 <= ra.1 { overlapping = true }
            }
        }
        #expect(overlapping, "band \(band + 1) separates every class on its own")
    }
}

/// A killed earlier run's temporary files are removed when the sample data is written again.
@Test func sampleDataRemovesWhatAKilledRunLeft() throws {
    let folder = try TemporaryDirectory()
    let dead = try exitedProcessID()
    try FileManager.default.createDirectory(atPath: folder.file("images"), withIntermediateDirectories: true)
    let leftover = folder.file("images/.scene1.tif.tmp-\(dead)@\(TemporaryFileName.host)-1")
    #expect(FileManager.default.createFile(atPath: leftover, contents: Data([1])))
    _ = try SampleDataset(sceneCount: 1, width: 32, height: 32, seed: 1).write(to: folder.path)
    #expect(!FileManager.default.fileExists(atPath: leftover))
}

/// A dataset larger than the disk's free space is refused before any file is written.
@Test func sampleDataLargerThanTheFreeSpaceIsRefusedUpFront() throws {
    let folder = try TemporaryDirectory()
    let target = folder.file("huge")
    let huge = SampleDataset(sceneCount: 10_000, width: 100_000, height: 100_000, seed: 1)
    #expect(huge.estimatedBytes == 1_000_000_000_000_000)
    let error = #expect(throws: PipelineError.self) { try huge.write(to: target) }
    #expect(error?.path == target)
    #expect(error?.reason.hasPrefix("10000 scenes of 100000×100000 need about 1000000.0 GB and the file system has ") == true,
            "\(String(describing: error))")
    #expect(!FileManager.default.fileExists(atPath: target))
    #expect(SampleDataset(sceneCount: 3, width: 400, height: 200, seed: 1).estimatedBytes == 2_400_000)
}
