import Foundation
import Testing
@testable import Raster

@Suite struct PNGReaderTests {
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var layout: PNGWriter.Layout
        var bands: Int
        var sampleType: SampleType
        var isPalette = false
        var description: String { name }
    }

    static let palette16 = (0..<16).map { PNGPaletteEntry(red: UInt8($0 * 16), green: 255 - UInt8($0), blue: 7) }

    static let cases: [Case] = [
        Case(name: "gray1", layout: .gray(bitDepth: 1), bands: 1, sampleType: .uint8),
        Case(name: "gray2", layout: .gray(bitDepth: 2), bands: 1, sampleType: .uint8),
        Case(name: "gray4", layout: .gray(bitDepth: 4), bands: 1, sampleType: .uint8),
        Case(name: "gray8", layout: .gray(bitDepth: 8), bands: 1, sampleType: .uint8),
        Case(name: "gray16", layout: .gray(bitDepth: 16), bands: 1, sampleType: .uint16),
        Case(name: "grayAlpha8", layout: .grayAlpha(bitDepth: 8), bands: 2, sampleType: .uint8),
        Case(name: "grayAlpha16", layout: .grayAlpha(bitDepth: 16), bands: 2, sampleType: .uint16),
        Case(name: "rgb8", layout: .rgb(bitDepth: 8), bands: 3, sampleType: .uint8),
        Case(name: "rgb16", layout: .rgb(bitDepth: 16), bands: 3, sampleType: .uint16),
        Case(name: "rgba8", layout: .rgba(bitDepth: 8), bands: 4, sampleType: .uint8),
        Case(name: "rgba16", layout: .rgba(bitDepth: 16), bands: 4, sampleType: .uint16),
        Case(name: "palette1", layout: .palette(Array(palette16.prefix(2)), bitDepth: 1), bands: 1,
             sampleType: .uint8, isPalette: true),
        Case(name: "palette2", layout: .palette(Array(palette16.prefix(3)), bitDepth: 2), bands: 1,
             sampleType: .uint8, isPalette: true),
        Case(name: "palette4", layout: .palette(palette16, bitDepth: 4), bands: 1, sampleType: .uint8, isPalette: true),
        Case(name: "palette8", layout: .palette(palette16, bitDepth: 8), bands: 1, sampleType: .uint8, isPalette: true),
    ]

    /// A pattern that reaches every value of the depth and differs per channel and position.
    static func sample(_ layout: PNGWriter.Layout, _ x: Int, _ y: Int, _ c: Int) -> UInt16 {
        let limit: Int
        if case .palette(let entries, _) = layout { limit = entries.count } else { limit = 1 << layout.bitDepth }
        return UInt16((x * 7919 + y * 104_729 + c * 31 + x * y) % limit)
    }

    @Test(arguments: cases, [false, true])
    func storedValuesRoundTrip(_ testCase: Case, interlaced: Bool) throws {
        let dir = try PNGTestDirectory()
        let path = dir.file("\(testCase.name).png")
        let width = 37, height = 11  // odd sizes exercise sub-byte padding and all Adam7 passes
        try writeTestPNG(path, width: width, height: height, layout: testCase.layout, interlaced: interlaced) {
            Self.sample(testCase.layout, $0, $1, $2)
        }
        let reader = try PNGReader(path: path)
        #expect(reader.info == RasterInfo(
            path: path, format: .png, width: width, height: height, bands: testCase.bands,
            sampleType: testCase.sampleType, bitsPerSample: testCase.layout.bitDepth, planar: .contiguous,
            tiled: false, compression: "deflate", bigTIFF: false, pages: 1, nodata: nil,
            georeferenced: false, isPalette: testCase.isPalette))
        #expect((reader.header.interlaced != 0) == interlaced)
        let top = try reader.readRows(4)
        let bottom = try reader.readRows(height - 4)
        var mismatches = 0
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<testCase.bands {
                    let got = y < 4 ? top[c, y, x] : bottom[c, y - 4, x]
                    if got != Float(Self.sample(testCase.layout, x, y, c)) { mismatches += 1 }
                }
            }
        }
        #expect(mismatches == 0)
        #expect(throws: RasterError.self) { try reader.readRows(1) }
    }

    @Test func paletteEntriesCarryTransparency() throws {
        let dir = try PNGTestDirectory()
        let path = dir.file("palette.png")
        let entries = [PNGPaletteEntry(red: 1, green: 2, blue: 3, alpha: 0),
                       PNGPaletteEntry(red: 4, green: 5, blue: 6, alpha: 128),
                       PNGPaletteEntry(red: 7, green: 8, blue: 9)]
        try writeTestPNG(path, width: 3, height: 1, layout: .palette(entries, bitDepth: 8)) { x, _, _ in UInt16(2 - x) }
        let reader = try PNGReader(path: path)
        #expect(reader.palette == entries)
        #expect(try reader.readRows(1).values == [2, 1, 0])
    }

    @Test func grayTransparentColourIsReportedNotApplied() throws {
        let dir = try PNGTestDirectory()
        let plain = dir.file("plain.png"), marked = dir.file("trns.png")
        try writeTestPNG(plain, width: 4, height: 1, layout: .gray(bitDepth: 16)) { x, _, _ in UInt16(x * 20_000) }
        // Insert a tRNS chunk naming gray 20000 transparent, just before IDAT.
        var bytes = try PNGBytes.read(plain)
        let idat = try #require(PNGBytes.find("IDAT", in: bytes))
        bytes.insert(contentsOf: PNGBytes.chunk("tRNS", [0x4E, 0x20]), at: idat.offset)
        try PNGBytes.write(bytes, to: marked)
        #expect(try PNGReader(path: plain).transparentColor == nil)
        let reader = try PNGReader(path: marked)
        #expect(reader.transparentColor == [20_000])
        #expect(reader.palette == nil)
        #expect(reader.info.bands == 1)
        #expect(try reader.readRows(1).values == [0, 20_000, 40_000, 60_000])
    }

    @Test func windowsReadForwardOnly() throws {
        let dir = try PNGTestDirectory()
        let path = dir.file("rgb.png")
        try writeTestPNG(path, width: 20, height: 10, layout: .rgb(bitDepth: 8)) { x, y, c in UInt16(x + 20 * y + c) % 256 }
        let reader = try PNGReader(path: path)
        let window = try reader.readWindow(PixelWindow(x: 5, y: 3, width: 4, height: 2))
        #expect(window.bands == 3 && window.width == 4 && window.height == 2)
        #expect(window[0, 0, 0] == Float(5 + 60))
        #expect(window[2, 1, 3] == Float(8 + 80 + 2))
        #expect(reader.nextRow == 5)
        let behind = #expect(throws: RasterError.self) {
            try reader.readWindow(PixelWindow(x: 0, y: 4, width: 1, height: 1))
        }
        #expect(behind?.reason.contains("cannot seek back") == true)
        #expect(throws: RasterError.self) { try reader.readWindow(PixelWindow(x: 18, y: 6, width: 3, height: 1)) }
        let last = try reader.readWindow(PixelWindow(x: 19, y: 9, width: 1, height: 1))
        #expect(last.values == [Float(19 + 180), Float(20 + 180), Float(21 + 180)])
    }
}
