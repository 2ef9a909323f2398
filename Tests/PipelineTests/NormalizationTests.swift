import Foundation
import Raster
import Testing
import UNet
@testable import Pipeline

/// Writes a 2-band float TIFF whose band b holds `values(b, x, y)`.
func writeScene(_ path: String, width: Int, height: Int, bands: Int = 2, nodata: Double? = nil,
                values: (Int, Int, Int) -> Float) throws {
    let writer = try TIFFWriter(path: path, width: width, height: height, bands: bands, sampleType: .float32,
                                layout: .stripped(rowsPerStrip: 8), compression: .deflate, nodata: nodata)
    var buffer = RasterBuffer(bands: bands, width: width, height: height)
    for b in 0..<bands {
        for y in 0..<height { for x in 0..<width { buffer[b, y, x] = values(b, x, y) } }
    }
    try writer.writeRows(buffer)
    try writer.finish()
}

@Test func zscoreStatisticsMatchTheDefinitionAndSkipNodata() throws {
    let folder = try TemporaryDirectory()
    let path = folder.file("a.tif")
    // Band 0: 0...99 in raster order; band 1: constant 5 except nodata pixels.
    try writeScene(path, width: 10, height: 10, nodata: -9999) { b, x, y in
        if b == 1 { return x == 0 ? -9999 : 5 }
        return Float(y * 10 + x)
    }
    let region = NormalizationStatistics.Region(path: path, area: PixelWindow(x: 0, y: 0, width: 10, height: 10))
    let n = try NormalizationStatistics.compute(mode: .zscore, regions: [region], bands: 2)
    let values = (0..<100).map(Double.init)
    let mean = values.reduce(0, +) / 100
    let std = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 100).squareRoot()
    #expect(abs(Double(n.centre[0]) - mean) < 1e-4)
    #expect(abs(Double(n.scale[0]) - std) < 1e-4)
    #expect(n.centre[1] == 5)
    #expect(n.scale[1] == 1)  // zero deviation falls back to 1 rather than dividing by zero

    var buffer = RasterBuffer(bands: 2, width: 2, height: 1, values: [Float(mean), Float(mean + std), .nan, 5])
    n.apply(to: &buffer)
    #expect(abs(buffer.values[0]) < 1e-5)
    #expect(abs(buffer.values[1] - 1) < 1e-5)
    #expect(buffer.values[2] == 0)
}

@Test func percentileAndGlobalMinMaxMapToPlusMinusOne() throws {
    let folder = try TemporaryDirectory()
    let path = folder.file("b.tif")
    try writeScene(path, width: 100, height: 10) { b, x, y in Float((y * 100 + x) * (b + 1)) }
    let region = NormalizationStatistics.Region(path: path, area: PixelWindow(x: 0, y: 0, width: 100, height: 10))
    let p = try NormalizationStatistics.compute(mode: .percentile, regions: [region], bands: 2)
    // Band 0 holds 0...999: its 2nd and 98th percentiles are about 20 and 980.
    #expect(abs(p.centre[0] - 500) < 2)
    #expect(abs(p.scale[0] - 480) < 2)
    var buffer = RasterBuffer(bands: 2, width: 1, height: 1, values: [5000, -5000])
    p.apply(to: &buffer)
    #expect(buffer.values == [1, -1])

    let g = try NormalizationStatistics.compute(mode: .minmaxGlobal, regions: [region], bands: 2)
    #expect(g.centre == [999, 999])
    #expect(g.scale == [999, 999])
}

@Test func modelFileFormRoundTrips() throws {
    let n = Normalization(mode: .percentile, centre: [1, 2], scale: [3, 4])
    #expect(try Normalization(n.modelNormalization, bands: 2, path: "m") == n)
    #expect(throws: PipelineError.self) { try Normalization(n.modelNormalization, bands: 3, path: "m") }
    #expect(try Normalization(nil, bands: 2, path: "m") == .identity(bands: 2))
}

/// NaN and infinities are missing samples, as the nodata value is: statistics over a scene
/// holding them equal those over the same scene with nodata there (percentile used to trap on
/// an infinite maximum), and normalising turns them into 0 rather than an infinity.
@Test func nonFiniteSamplesAreMissingLikeNodata() throws {
    let folder = try TemporaryDirectory()
    let special: [Float] = [.infinity, -.infinity, .nan]
    func value(_ b: Int, _ x: Int, _ y: Int) -> Float { Float((y * 40 + x) * (b + 1) % 97) }
    try writeScene(folder.file("nonfinite.tif"), width: 40, height: 20) { b, x, y in
        x % 7 == 0 ? special[(b + y) % 3] : value(b, x, y)
    }
    try writeScene(folder.file("nodata.tif"), width: 40, height: 20, nodata: -5) { b, x, y in
        x % 7 == 0 ? -5 : value(b, x, y)
    }
    let area = PixelWindow(x: 0, y: 0, width: 40, height: 20)
    for mode in Normalization.Mode.allCases {
        let nonFinite = try NormalizationStatistics.compute(
            mode: mode, regions: [.init(path: folder.file("nonfinite.tif"), area: area)], bands: 2)
        let nodata = try NormalizationStatistics.compute(
            mode: mode, regions: [.init(path: folder.file("nodata.tif"), area: area)], bands: 2)
        #expect(nonFinite == nodata, "\(mode)")
        #expect(nonFinite.centre.allSatisfy(\.isFinite) && nonFinite.scale.allSatisfy(\.isFinite), "\(mode)")
    }
    let zscore = Normalization(mode: .zscore, centre: [1, 2], scale: [3, 4])
    var buffer = RasterBuffer(bands: 2, width: 2, height: 1, values: [.infinity, 4, -.infinity, .nan])
    zscore.apply(to: &buffer)
    #expect(buffer.values == [0, 1, 0, 0])
}

/// A band whose every sample is missing leaves nothing to learn from: refused in every mode,
/// naming the band (the default used to train on, with zero loss, and write a model).
@Test func aBandWithoutAValidSampleIsRefusedInEveryMode() throws {
    let folder = try TemporaryDirectory()
    let one = folder.file("one/a.tif"), other = folder.file("two/b.tif")
    for path in [one, other] {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try writeScene(path, width: 16, height: 8, nodata: 0) { b, x, _ in b == 1 ? (x % 2 == 0 ? 0 : .nan) : 3 }
    }
    let area = PixelWindow(x: 0, y: 0, width: 16, height: 8)
    for mode in Normalization.Mode.allCases {
        let single = #expect(throws: PipelineError.self, "\(mode)") {
            try NormalizationStatistics.compute(mode: mode, regions: [.init(path: one, area: area)], bands: 2)
        }
        #expect(single == PipelineError(path: one, reason: "band 2 has no valid sample in its training rows (each is nodata, NaN or infinite)"))
        let both = #expect(throws: PipelineError.self, "\(mode)") {
            try NormalizationStatistics.compute(mode: mode, regions: [.init(path: one, area: area), .init(path: other, area: area)], bands: 2)
        }
        #expect(both?.path == "\(folder.file("one")), \(folder.file("two"))")
        #expect(both?.reason == "band 2 has no valid sample in the training rows of any of its 2 scenes (each is nodata, NaN or infinite)")
    }
}

/// A model's stored normalisation must be usable as it is: a deviation of 0 or below, or an
/// infinite mean, was silently replaced or scaled every tile to nonsense.
@Test func impossibleStoredNormalizationsAreNamed() throws {
    let good = ModelNormalization(mode: "zscore", mean: [1, 2], std: [3, 4])
    #expect(try Normalization(good, bands: 2, path: "m.safetensors").scale == [3, 4])
    for (mean, std) in [([1.0, 2], [3.0, 0]), ([1, 2], [3, -1]), ([1, 1e308], [3, 4]), ([1, 2], [.nan, 4])] {
        #expect(throws: PipelineError.self) {
            try Normalization(ModelNormalization(mode: "zscore", mean: mean, std: std), bands: 2, path: "m.safetensors")
        }
    }
}
