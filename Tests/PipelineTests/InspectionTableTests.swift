import Foundation
import Raster
import Testing
@testable import Pipeline

/// A float band that holds only +infinity reads as infinity in the table (JSON, which has no
/// infinity, writes null).
@Test func infiniteBandStatisticsReadAsInfinity() throws {
    let folder = try TemporaryDirectory()
    try writeScene(folder.file("inf.tif"), width: 4, height: 4, bands: 1) { _, _, _ in .infinity }
    let inspection = Inspector.inspect(path: folder.file("inf.tif"), statistics: true)
    #expect(inspection.succeeded)
    let rows = InspectionTable().rows(for: inspection)
    #expect(rows.last == "  band 1\tmin inf\tmax inf\tmean inf\tcount 16")
    #expect(inspection.json.serialized.contains("\"stats\": [{\"min\": null, \"max\": null, \"mean\": null, \"count\": 16}]"))
}

/// A one-band, one-strip, uncompressed little-endian TIFF of `samples`' bytes, built by hand:
/// `TIFFWriter` takes Float32 rows, which cannot hold these values.
private func writeWideTIFF(_ path: String, width: Int, height: Int, bits: Int, format: UInt16, samples: [UInt8]) throws {
    var bytes: [UInt8] = Array("II".utf8) + [42, 0, 8, 0, 0, 0]
    func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    let entries: [(UInt16, UInt16, UInt32)] = [  // tag, type (3 short, 4 long), value
        (256, 4, UInt32(width)), (257, 4, UInt32(height)), (258, 3, UInt32(bits)), (259, 3, 1), (262, 3, 1),
        (273, 4, UInt32(8 + 2 + 12 * 10 + 4)), (277, 3, 1), (278, 4, UInt32(height)), (279, 4, UInt32(samples.count)),
        (339, 3, UInt32(format)),
    ]
    append(UInt16(entries.count))
    for (tag, type, value) in entries {
        append(tag)
        append(type)
        append(UInt32(1))
        if type == 3 { append(UInt16(value)); append(UInt16(0)) } else { append(value) }
    }
    append(UInt32(0))
    try Data(bytes + samples).write(to: URL(fileURLWithPath: path))
}

/// `--stats` reports stored values: a uint32 band's exact extremes and a float64 band beyond
/// Float32's range, which a Float32 read would round or turn into an infinity.
@Test func statisticsAreOfTheStoredValuesOfWideTypes() throws {
    let folder = try TemporaryDirectory()
    let integers: [UInt32] = [4_293_898_007, 4_293_898_001, 7, 9]
    let floats: [Double] = [1e300, -2e300, 0.5, 1e-300]
    try writeWideTIFF(folder.file("u32.tif"), width: 2, height: 2, bits: 32, format: 1,
                      samples: integers.flatMap { value in withUnsafeBytes(of: value.littleEndian) { Array($0) } })
    try writeWideTIFF(folder.file("f64.tif"), width: 2, height: 2, bits: 64, format: 3,
                      samples: floats.flatMap { value in withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) } })
    let u32 = try #require(Inspector.inspect(path: folder.file("u32.tif"), statistics: true).statistics?.first)
    #expect(u32.min == 7 && u32.max == 4_293_898_007 && u32.mean == integers.map(Double.init).reduce(0, +) / 4)
    let f64 = try #require(Inspector.inspect(path: folder.file("f64.tif"), statistics: true).statistics?.first)
    #expect(f64.min == -2e300 && f64.max == 1e300)
}

/// A file placed by ground control points or RPC coefficients is not "georeferenced" (no affine
/// map, no world file) but says what places it, in JSON and in the table.
@Test func groundControlPointsAreCountedWhereThereIsNoAffineMap() throws {
    let folder = try TemporaryDirectory()
    let path = folder.file("gcp.tif")
    let points: [Double] = [0, 0, 0, 500_000, 4_000_000, 0, 9, 0, 0, 500_090, 4_000_010, 0, 0, 9, 0, 499_990, 3_999_910, 0]
    let writer = try TIFFWriter(path: path, width: 10, height: 10, bands: 1, sampleType: .uint8,
                                geoReference: GeoReference(modelTiepoint: points, geoKeyDirectory: [1, 1, 0, 0]))
    try writer.writeRows(RasterBuffer(bands: 1, width: 10, height: 10))
    try writer.finish()
    let inspection = Inspector.inspect(path: path, statistics: false)
    let json = inspection.json.serialized
    #expect(json.contains("\"georeferenced\": false, \"groundControlPoints\": 3, \"rpc\": false"), "\(json)")
    #expect(InspectionTable().rows(for: inspection)[0].hasSuffix("\t3 gcps"))
    let rpcPath = folder.file("rpc.tif")
    let rpc = try TIFFWriter(path: rpcPath, width: 10, height: 10, bands: 1, sampleType: .uint8,
                             geoReference: GeoReference(rpcCoefficients: (0..<92).map(Double.init)))
    try rpc.writeRows(RasterBuffer(bands: 1, width: 10, height: 10))
    try rpc.finish()
    let rpcInspection = Inspector.inspect(path: rpcPath, statistics: false)
    #expect(rpcInspection.json.serialized.contains("\"groundControlPoints\": 0, \"rpc\": true"))
    #expect(InspectionTable().rows(for: rpcInspection)[0].hasSuffix("\trpc"))
}

/// `--stats` leaves NaN samples out and counts the rest; JSON, which has no infinity, writes an
/// infinite figure as null, and the count tells that from a band of NaN alone.
@Test func statisticsCountTheirSamplesAndNameInfinityInTheTable() throws {
    let folder = try TemporaryDirectory()
    let path = folder.file("f.tif")
    try writeScene(path, width: 2, height: 2) { band, x, y in
        band == 1 ? .nan : [Float.nan, .infinity, 1, 2][y * 2 + x]
    }
    let inspection = Inspector.inspect(path: path, statistics: true)
    let stats = try #require(inspection.statistics)
    #expect(stats[0].count == 3 && stats[0].min == 1 && stats[0].max == .infinity)
    #expect(stats[1].count == 0 && stats[1].mean.isNaN)
    let json = inspection.json.serialized
    #expect(json.contains("{\"min\": 1, \"max\": null, \"mean\": null, \"count\": 3}"), "\(json)")
    #expect(json.contains("{\"min\": null, \"max\": null, \"mean\": null, \"count\": 0}"), "\(json)")
    let rows = InspectionTable().rows(for: inspection)
    #expect(rows[1].hasSuffix("max inf\tmean inf\tcount 3"), "\(rows[1])")
}
