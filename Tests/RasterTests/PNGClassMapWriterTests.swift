import Foundation
import Testing
@testable import Raster

@Suite struct PNGClassMapWriterTests {
    @Test func classMapRoundTripsWithTransparentNoLabel() throws {
        let dir = try PNGTestDirectory()
        let path = dir.file("scene.png")
        let width = 13, height = 7
        let ids: [UInt8] = (0..<(width * height)).map { $0 % 17 == 16 ? 255 : UInt8($0 % 6) }
        let writer = try ClassMapWriter(path: path, width: width, height: height, legend: .default)
        try writer.writeRows(Array(ids.prefix(3 * width)))
        #expect(!FileManager.default.fileExists(atPath: path), "visible before finish")
        try writer.writeRows(Array(ids.dropFirst(3 * width)))
        try writer.finish()
        #expect(dir.contents == ["scene.png"])

        let reader = try PNGReader(path: path)
        #expect(reader.info.isPalette && reader.info.bitsPerSample == 8 && reader.info.bands == 1)
        let palette = try #require(reader.palette)
        #expect(palette.count == 256)
        for entry in ClassLegend.default.classes {
            #expect(palette[Int(entry.id)] == PNGPaletteEntry(red: entry.color.red, green: entry.color.green,
                                                              blue: entry.color.blue, alpha: 255))
        }
        #expect(palette[255].alpha == 0)
        #expect(try reader.readRows(height).values == ids.map(Float.init))
        #expect(try PNGMaskReader(path: path, legend: .default).readRows(height) == ids)
    }

    @Test func idOutsideTheLegendIsRefused() throws {
        let dir = try PNGTestDirectory()
        let writer = try ClassMapWriter(path: dir.file("bad.png"), width: 4, height: 2, legend: .default)
        try writer.writeRows([0, 1, 2, 3])
        let error = #expect(throws: RasterError.self) { try writer.writeRows([4, 5, 6, 0]) }
        #expect(error?.reason == "class id 6 at pixel (2, 1) is not in the legend (ids 0–5; 255 = no label)")
        #expect(throws: RasterError.self) { try writer.writeRows([0, 0, 0]) }
    }

    @Test func unfinishedWriterLeavesNothingBehind() throws {
        let dir = try PNGTestDirectory()
        do {
            let writer = try ClassMapWriter(path: dir.file("partial.png"), width: 8, height: 8, legend: .default)
            try writer.writeRows([UInt8](repeating: 1, count: 16))
            #expect(dir.contents.count == 1, "the temporary file exists while writing")
            #expect(throws: RasterError.self) { try writer.finish() }
        }
        #expect(dir.contents.isEmpty)
    }

    @Test func worldFileIsWrittenBesideAGeoreferencedMap() throws {
        let dir = try PNGTestDirectory()
        let path = dir.file("scene.png")
        let geo = GeoReference(modelPixelScale: [0.5, 0.5, 0], modelTiepoint: [0, 0, 0, 500_000, 4_200_000, 0])
        let writer = try ClassMapWriter(path: path, width: 2, height: 1, legend: .default)
        try writer.writeRows([0, 1])
        try writer.finish(geoReference: geo)
        #expect(dir.contents == ["scene.pgw", "scene.png"])
        let text = try String(contentsOfFile: dir.file("scene.pgw"), encoding: .utf8)
        #expect(text == "0.5\n0.0\n0.0\n-0.5\n500000.25\n4199999.75\n")

        let plain = try ClassMapWriter(path: dir.file("plain.png"), width: 1, height: 1, legend: .default)
        try plain.writeRows([0])
        try plain.finish(geoReference: GeoReference())
        #expect(!FileManager.default.fileExists(atPath: dir.file("plain.pgw")))
    }

    /// With RasterPixelIsPoint (GeoKey 1025 = 2) the tags already name the top-left pixel's
    /// centre, which is what a world file says: no half-pixel shift, as GDAL reads it.
    @Test func aPixelIsPointWorldFileNamesTheTiePointItself() throws {
        let keys: [UInt16] = [1, 1, 0, 2, 1024, 0, 1, 1, 1025, 0, 1, 2]
        let point = GeoReference(modelPixelScale: [2, 3, 0], modelTiepoint: [0, 0, 0, 1000, 2000, 0], geoKeyDirectory: keys)
        #expect(point.pixelIsPoint)
        #expect(point.worldFileText == "2.0\n0.0\n0.0\n-3.0\n1000.0\n2000.0\n")
        let transformed = GeoReference(modelTransformation: [2, 0, 0, 1000, 0, -3, 0, 2000, 0, 0, 0, 0, 0, 0, 0, 1],
                                       geoKeyDirectory: keys)
        #expect(transformed.worldFileText == point.worldFileText)
        var area = point
        area.geoKeyDirectory = [1, 1, 0, 2, 1024, 0, 1, 1, 1025, 0, 1, 1]
        #expect(!area.pixelIsPoint)
        #expect(area.worldFileText == "2.0\n0.0\n0.0\n-3.0\n1001.0\n1998.5\n")
    }

    /// A zero, infinite or NaN scale, or a transformation that maps the image to a line, places
    /// nothing: no georeference, no world file.
    @Test func degenerateGeoreferencesPlaceNothing() {
        let tie: [Double] = [0, 0, 0, 5, 5, 0]
        for geo in [GeoReference(modelPixelScale: [0, 0, 0], modelTiepoint: tie),
                    GeoReference(modelPixelScale: [.nan, 1, 0], modelTiepoint: tie),
                    GeoReference(modelPixelScale: [1, 1, 0], modelTiepoint: [0, 0, 0, .infinity, 5, 0]),
                    GeoReference(modelTransformation: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
                    GeoReference(modelTransformation: [1, 2, 0, 0, 2, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])] {
            #expect(!geo.isGeoreferenced, "\(geo)")
            #expect(geo.worldFileText == nil, "\(geo)")
        }
    }

    @Test func worldFileNames() {
        #expect(WorldFile.path(forImage: "/a/scene.png") == "/a/scene.pgw")
        #expect(WorldFile.path(forImage: "/a/scene.tif") == "/a/scene.tfw")
        #expect(WorldFile.path(forImage: "/a/scene") == "/a/scene.wld")
        #expect(throws: RasterError.self) { try WorldFile.write(GeoReference(), forImage: "/a/scene.png") }
    }

    @Test func writerRefusesSamplesThatDoNotFit() throws {
        let dir = try PNGTestDirectory()
        let writer = try PNGWriter(path: dir.file("g2.png"), width: 3, height: 1, layout: .gray(bitDepth: 2))
        let error = #expect(throws: RasterError.self) { try writer.writeRow([0, 3, 4]) }
        #expect(error?.reason.contains("sample 4 at column 2") == true)
        #expect(throws: RasterError.self) {
            try PNGWriter(path: dir.file("x.png"), width: 3, height: 1, layout: .rgb(bitDepth: 4))
        }
    }
}
