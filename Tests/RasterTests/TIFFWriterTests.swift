import Foundation
import Testing
@testable import Raster

@Suite struct TIFFWriterTests {
    static func image(bands: Int, width: Int, height: Int, type: SampleType) -> RasterBuffer {
        var buffer = RasterBuffer(bands: bands, width: width, height: height)
        for b in 0..<bands {
            for y in 0..<height {
                for x in 0..<width {
                    let n = Float((b * 37 + x * 5 + y * 11) % 250)
                    buffer[b, y, x] = switch type {
                    case .float32, .float64: n * 0.37 - 20
                    case .int8: n.truncatingRemainder(dividingBy: 200) - 100
                    case .int16, .int32: n * 100 - 12000
                    case .uint16, .uint32: n * 200
                    default: n
                    }
                }
            }
        }
        return buffer
    }

    /// Writes `image` in slices of `slice` rows.
    static func write(_ image: RasterBuffer, to path: String, type: SampleType, layout: TIFFWriter.Layout,
                      compression: TIFFWriter.Compression, slice: Int,
                      geoReference: GeoReference? = nil, nodata: Double? = nil) throws {
        let writer = try TIFFWriter(path: path, width: image.width, height: image.height, bands: image.bands,
                                    sampleType: type, layout: layout, compression: compression,
                                    geoReference: geoReference, nodata: nodata)
        var y = 0
        while y < image.height {
            let rows = min(slice, image.height - y)
            try writer.writeRows(crop(image, PixelWindow(x: 0, y: y, width: image.width, height: rows)))
            y += rows
        }
        try writer.finish()
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var type: SampleType
        var layout: TIFFWriter.Layout
        var compression: TIFFWriter.Compression
        var testDescription: String { "\(type) \(layout) \(compression)" }
    }

    @Test(arguments: TIFFWriter.supportedSampleTypes.flatMap { type in
        [TIFFWriter.Layout.stripped(rowsPerStrip: 4), .tiled(width: 16, height: 32)].flatMap { layout in
            [TIFFWriter.Compression.deflate, .none].map { Case(type: type, layout: layout, compression: $0) }
        }
    })
    func roundTripsExactly(test: Case) throws {
        let folder = try TemporaryFolder()
        let path = folder.file("out.tif")
        let image = Self.image(bands: 3, width: 37, height: 45, type: test.type)
        try Self.write(image, to: path, type: test.type, layout: test.layout, compression: test.compression, slice: 7)
        let reader = try TIFFReader(path: path)
        #expect(reader.info.sampleType == test.type)
        #expect(reader.info.compression == (test.compression == .deflate ? "deflate" : "none"))
        if case .tiled = test.layout { #expect(reader.info.tiled) } else { #expect(!reader.info.tiled) }
        let read = try reader.readWindow(PixelWindow(x: 0, y: 0, width: 37, height: 45))
        #expect(read.values == image.values, "largest difference \(maximumDifference(read, image))")
        #expect(folder.contents == ["out.tif"])
    }

    @Test func eightBandTilesWithRowsInOddSlices() throws {
        let folder = try TemporaryFolder()
        let path = folder.file("scene.tif")
        let image = Self.image(bands: 8, width: 70, height: 53, type: .uint16)
        try Self.write(image, to: path, type: .uint16, layout: .tiled(width: 32, height: 16), compression: .deflate, slice: 5)
        let reader = try TIFFReader(path: path)
        let whole = try reader.readWindow(PixelWindow(x: 0, y: 0, width: 70, height: 53)) == image
        #expect(whole)
        let window = PixelWindow(x: 30, y: 14, width: 35, height: 20)
        let part = try reader.readWindow(window) == crop(image, window)
        #expect(part)
    }

    @Test func georeferenceAndNodataArePreserved() throws {
        let folder = try TemporaryFolder()
        let geo = GeoReference(
            modelPixelScale: [0.5, 0.5, 0], modelTiepoint: [0, 0, 0, 440720, 3751320, 0],
            geoKeyDirectory: [1, 1, 0, 4, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, 32611, 3076, 0, 1, 9001],
            geoDoubleParams: [6378137, 298.257223563], geoAsciiParams: "WGS 84 / UTM zone 11N|")
        for nodata in [-9999.0, 0, .nan, 1.5] {
            let path = folder.file("geo.tif")
            let image = Self.image(bands: 2, width: 20, height: 10, type: .float32)
            try Self.write(image, to: path, type: .float32, layout: .stripped(rowsPerStrip: 3), compression: .deflate,
                           slice: 10, geoReference: geo, nodata: nodata)
            let reader = try TIFFReader(path: path)
            #expect(reader.geoReference == geo)
            #expect(reader.info.georeferenced)
            let read = try #require(reader.info.nodata)
            #expect(read == nodata || (read.isNaN && nodata.isNaN))
        }
        let transformed = GeoReference(modelTransformation: [2, 0, 0, 100, 0, -2, 0, 200, 0, 0, 0, 0, 0, 0, 0, 1])
        let path = folder.file("affine.tif")
        try Self.write(Self.image(bands: 1, width: 4, height: 4, type: .uint8), to: path, type: .uint8,
                       layout: .stripped(rowsPerStrip: 4), compression: .none, slice: 4, geoReference: transformed)
        #expect(try TIFFReader(path: path).geoReference == transformed)
    }

    @Test func integersAreRoundedAndClamped() throws {
        let folder = try TemporaryFolder()
        let path = folder.file("clamp.tif")
        let values: [Float] = [-5, 0.4, 0.6, 254.5, 300, .nan, 17, 1e9]
        let image = RasterBuffer(bands: 1, width: values.count, height: 1, values: values)
        try Self.write(image, to: path, type: .uint8, layout: .stripped(rowsPerStrip: 1), compression: .deflate, slice: 1)
        let read = try TIFFReader(path: path).readWindow(PixelWindow(x: 0, y: 0, width: values.count, height: 1))
        #expect(read.values == [0, 0, 1, 255, 255, 0, 17, 255])
    }

    /// A rewritten output (tonight's map over last night's) keeps the permissions someone gave
    /// the old one; a new one gets the umask's.
    @Test func replacingAFileKeepsItsPermissions() throws {
        let folder = try TemporaryFolder()
        func mode(_ path: String) -> mode_t {
            var info = stat()
            return stat(path, &info) == 0 ? info.st_mode & 0o777 : 0
        }
        // What the umask leaves of 0666, learnt without changing it under other tests.
        let reference = folder.file("reference")
        close(open(reference, O_WRONLY | O_CREAT, 0o666))
        let tiff = folder.file("a.tif"), png = folder.file("a.png"), small = folder.file("a.json")
        func writeAll() throws {
            let writer = try TIFFWriter(path: tiff, width: 2, height: 1, bands: 1, sampleType: .uint8,
                                        layout: .stripped(rowsPerStrip: 1))
            try writer.writeRows(RasterBuffer(bands: 1, width: 2, height: 1, values: [1, 2]))
            try writer.finish()
            let map = try ClassMapWriter(path: png, width: 2, height: 1, legend: .default)
            try map.writeRows([0, 1])
            try map.finish()
            try AtomicFile.write(Data("{}".utf8), to: small)
        }
        try writeAll()
        for path in [tiff, small] { #expect(mode(path) == mode(reference), "\(path)") }
        for (path, wanted) in [(tiff, mode_t(0o600)), (png, 0o640), (small, 0o604)] { chmod(path, wanted) }
        try writeAll()
        #expect(mode(tiff) == 0o600)
        #expect(mode(png) == 0o640)
        #expect(mode(small) == 0o604)
        // Root (CI's containers) may also give a file away: the owner stays who it was made for.
        if getuid() == 0 {
            chown(tiff, 65534, 65534)
            try writeAll()
            var info = stat()
            #expect(stat(tiff, &info) == 0 && info.st_uid == 65534 && info.st_gid == 65534)
        }
    }

    @Test func nothingAppearsUntilFinishAndNoTemporaryFileIsLeft() throws {
        let folder = try TemporaryFolder()
        let path = folder.file("atomic.tif")
        let image = Self.image(bands: 2, width: 16, height: 16, type: .uint8)
        let writer = try TIFFWriter(path: path, width: 16, height: 16, bands: 2, sampleType: .uint8,
                                    layout: .tiled(width: 16, height: 16))
        try writer.writeRows(crop(image, PixelWindow(x: 0, y: 0, width: 16, height: 9)))
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(folder.contents.count == 1 && folder.contents[0].hasPrefix(".atomic.tif.tmp-\(getpid())@\(TemporaryFileName.host)-"))
        #expect(!TemporaryFileName.isAbandoned(folder.contents[0]), "its process is running")
        try writer.writeRows(crop(image, PixelWindow(x: 0, y: 9, width: 16, height: 7)))
        #expect(!FileManager.default.fileExists(atPath: path))
        try writer.finish()
        #expect(folder.contents == ["atomic.tif"])
        #expect(throws: RasterError.self) { try writer.finish() }
    }

    @Test func droppedOrFailedWritersRemoveTheirTemporaryFile() throws {
        let folder = try TemporaryFolder()
        let path = folder.file("dropped.tif")
        do {
            let writer = try TIFFWriter(path: path, width: 8, height: 8, bands: 1, sampleType: .float32,
                                        layout: .stripped(rowsPerStrip: 2))
            try writer.writeRows(RasterBuffer(bands: 1, width: 8, height: 3))
            #expect(folder.contents.count == 1)
        }
        #expect(folder.contents.isEmpty)

        let incomplete = try TIFFWriter(path: path, width: 8, height: 8, bands: 1, sampleType: .uint8,
                                        layout: .stripped(rowsPerStrip: 2))
        try incomplete.writeRows(RasterBuffer(bands: 1, width: 8, height: 3))
        let error = #expect(throws: RasterError.self) { try incomplete.finish() }
        #expect(error?.reason.contains("3 of 8 rows") == true)
        #expect(folder.contents.isEmpty)

        let writer = try TIFFWriter(path: path, width: 8, height: 8, bands: 2, sampleType: .uint16)
        #expect(throws: RasterError.self) { try writer.writeRows(RasterBuffer(bands: 1, width: 8, height: 1)) }
        #expect(throws: RasterError.self) { try writer.writeRows(RasterBuffer(bands: 2, width: 7, height: 1)) }
        #expect(throws: RasterError.self) { try writer.writeRows(RasterBuffer(bands: 2, width: 8, height: 9)) }
        try writer.writeRows(RasterBuffer(bands: 2, width: 8, height: 8))
        try writer.finish()
        #expect(folder.contents == ["dropped.tif"])
    }

    @Test func badParametersAreRefused() throws {
        let folder = try TemporaryFolder()
        let path = folder.file("bad.tif")
        #expect(throws: RasterError.self) { try TIFFWriter(path: path, width: 0, height: 4, bands: 1, sampleType: .uint8) }
        #expect(throws: RasterError.self) { try TIFFWriter(path: path, width: 4, height: 4, bands: 1, sampleType: .float16) }
        #expect(throws: RasterError.self) {
            try TIFFWriter(path: path, width: 4, height: 4, bands: 1, sampleType: .uint8, layout: .tiled(width: 20, height: 16))
        }
        #expect(throws: RasterError.self) {
            try TIFFWriter(path: folder.file("missing/dir.tif"), width: 4, height: 4, bands: 1, sampleType: .uint8)
        }
        #expect(folder.contents.isEmpty)
    }
}
