import Foundation
import Testing
@testable import Raster

@Suite struct PNGMaskReaderTests {
    static let legend = ClassLegend.default
    /// Class id of each pixel of the 9×4 test mask: every class, and 255 ("no label") on one pixel.
    static func id(_ x: Int, _ y: Int) -> UInt8 { x == 8 && y == 3 ? 255 : UInt8((x + y) % 6) }

    func expectIDs(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let mask = try PNGMaskReader(path: path, legend: Self.legend)
        let ids = try mask.readRows(1) + mask.readRows(3)
        let expected = (0..<4).flatMap { y in (0..<9).map { x in Self.id(x, y) } }
        #expect(ids == expected, sourceLocation: sourceLocation)
    }

    @Test func grayAndPaletteStoreTheID() throws {
        let dir = try PNGTestDirectory()
        try writeTestPNG(dir.file("g8.png"), width: 9, height: 4, layout: .gray(bitDepth: 8)) { x, y, _ in UInt16(Self.id(x, y)) }
        try writeTestPNG(dir.file("g16.png"), width: 9, height: 4, layout: .gray(bitDepth: 16)) { x, y, _ in UInt16(Self.id(x, y)) }
        let palette = (0..<256).map { PNGPaletteEntry(red: UInt8($0), green: 0, blue: 0) }
        try writeTestPNG(dir.file("p8.png"), width: 9, height: 4, layout: .palette(palette, bitDepth: 8)) {
            x, y, _ in UInt16(Self.id(x, y))
        }
        for name in ["g8.png", "g16.png", "p8.png"] { try expectIDs(dir.file(name)) }
    }

    @Test func coloursMapThroughTheLegend() throws {
        let dir = try PNGTestDirectory()
        func color(_ x: Int, _ y: Int, _ c: Int) -> UInt16 {
            let id = Self.id(x, y)
            guard let entry = Self.legend.entry(id: id) else { return 0 }  // 255: transparent black
            return UInt16([entry.color.red, entry.color.green, entry.color.blue, 255][c])
        }
        // RGB has no way to say "no label", so its 255 pixel is painted as background there.
        try writeTestPNG(dir.file("rgba.png"), width: 9, height: 4, layout: .rgba(bitDepth: 8), sample: color)
        try expectIDs(dir.file("rgba.png"))
        try writeTestPNG(dir.file("rgb.png"), width: 9, height: 4, layout: .rgb(bitDepth: 8)) { x, y, c in
            x == 8 && y == 3 ? 255 : color(x, y, c)
        }
        let ids = try PNGMaskReader(path: dir.file("rgb.png"), legend: Self.legend).readRows(4)
        #expect(ids.last == 0)
        #expect(Array(ids.prefix(35)) == (0..<35).map { Self.id($0 % 9, $0 / 9) })
    }

    @Test func unknownColourNamesColourAndFirstPixel() throws {
        let dir = try PNGTestDirectory()
        let path = dir.file("odd.png")
        try writeTestPNG(path, width: 6, height: 5, layout: .rgb(bitDepth: 8)) { x, y, c in
            (y == 2 && x >= 3) || y == 4 ? UInt16([12, 34, 56][c]) : 255
        }
        let mask = try PNGMaskReader(path: path, legend: Self.legend)
        let top = try mask.readRows(2)
        #expect(top.allSatisfy { $0 == 0 })
        let error = #expect(throws: RasterError.self) { try mask.readRows(3) }
        #expect(error?.description == "\(path): colour (12, 34, 56) at pixel (3, 2) is not in the legend")
    }

    @Test func valueOutsideTheLegendIsRefused() throws {
        let dir = try PNGTestDirectory()
        let gray = dir.file("gray.png"), wide = dir.file("wide.png")
        try writeTestPNG(gray, width: 4, height: 2, layout: .gray(bitDepth: 8)) { x, y, _ in x == 2 && y == 1 ? 9 : 1 }
        try writeTestPNG(wide, width: 4, height: 2, layout: .gray(bitDepth: 16)) { x, _, _ in x == 3 ? 1000 : 0 }
        let error = #expect(throws: RasterError.self) {
            try PNGMaskReader(path: gray, legend: Self.legend).readRows(2)
        }
        #expect(error?.reason == "value 9 at pixel (2, 1) is not a class id of the legend (ids 0–5; 255 = no label)")
        let wideError = #expect(throws: RasterError.self) {
            try PNGMaskReader(path: wide, legend: Self.legend).readRows(2)
        }
        #expect(wideError?.reason.hasPrefix("value 1000 at pixel (3, 0)") == true)
    }

    @Test func sixteenBitColourMasksAreRefused() throws {
        let dir = try PNGTestDirectory()
        let path = dir.file("rgb16.png")
        try writeTestPNG(path, width: 2, height: 2, layout: .rgb(bitDepth: 16)) { _, _, _ in 0 }
        let error = #expect(throws: RasterError.self) { try PNGMaskReader(path: path, legend: Self.legend) }
        #expect(error?.reason.contains("8-bit RGB") == true)
    }
}
