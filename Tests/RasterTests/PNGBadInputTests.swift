import Foundation
import Testing
@testable import Raster

/// Damaged and malicious files: each must give one thrown error naming the file, never a crash.
@Suite struct PNGBadInputTests {
    /// A good 64×48 RGB PNG with varied content, so its IDAT is more than a few bytes.
    static func goodPNG(in dir: PNGTestDirectory) throws -> [UInt8] {
        let path = dir.file("good.png")
        try writeTestPNG(path, width: 64, height: 48, layout: .rgb(bitDepth: 8)) { x, y, c in
            UInt16((x * 37 + y * 101 + c * 53 + x * y * 7) % 256)
        }
        return try PNGBytes.read(path)
    }

    /// Expects reading the whole file to fail with a one-line error that names it.
    func expectRefused(_ path: String, containing text: String? = nil,
                       sourceLocation: SourceLocation = #_sourceLocation) {
        let error = #expect(throws: RasterError.self, sourceLocation: sourceLocation) { try readWholePNG(path) }
        guard let error else { return }
        #expect(error.path == path, sourceLocation: sourceLocation)
        #expect(!error.description.contains("\n"), sourceLocation: sourceLocation)
        #expect(!error.reason.isEmpty, sourceLocation: sourceLocation)
        if let text {
            #expect(error.reason.contains(text), "\(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func truncatedFilesAreRefused() throws {
        let dir = try PNGTestDirectory()
        let good = try Self.goodPNG(in: dir)
        let idat = try #require(PNGBytes.find("IDAT", in: good))
        let lengths = [0, 1, 7, 8, 12, 20, 32, idat.offset + 4, idat.offset + 20, idat.offset + idat.length / 2,
                       good.count - 13, good.count - 12, good.count - 5, good.count - 1]
        for length in lengths {
            let path = dir.file("truncated-\(length).png")
            try PNGBytes.write(Array(good.prefix(length)), to: path)
            expectRefused(path)
        }
        let atHalf = dir.file("truncated-\(idat.offset + idat.length / 2).png")
        expectRefused(atHalf, containing: "truncated")
    }

    @Test func corruptedChecksumsAndDataAreRefused() throws {
        let dir = try PNGTestDirectory()
        let good = try Self.goodPNG(in: dir)
        let idat = try #require(PNGBytes.find("IDAT", in: good))
        let ihdr = try #require(PNGBytes.find("IHDR", in: good))

        var badIHDRCRC = good
        badIHDRCRC[ihdr.offset + 8 + ihdr.length] ^= 0xFF
        try PNGBytes.write(badIHDRCRC, to: dir.file("ihdr-crc.png"))
        expectRefused(dir.file("ihdr-crc.png"), containing: "CRC")

        var badIDATCRC = good
        badIDATCRC[idat.offset + 8 + idat.length + 2] ^= 0x5A
        try PNGBytes.write(badIDATCRC, to: dir.file("idat-crc.png"))
        expectRefused(dir.file("idat-crc.png"), containing: "CRC")

        // Damage the compressed data and fix the CRC, so zlib itself must notice.
        for offset in [2, idat.length / 3, idat.length - 3] {
            var badData = good
            let start = idat.offset + 8
            badData[start + offset] ^= 0xA5
            let crc = PNGBytes.crc32(badData[(idat.offset + 4)..<(start + idat.length)])
            badData.replaceSubrange((start + idat.length)..<(start + idat.length + 4), with: PNGBytes.bigEndian(crc))
            let path = dir.file("idat-data-\(offset).png")
            try PNGBytes.write(badData, to: path)
            expectRefused(path)
        }
    }

    @Test func forgedHugeHeaderFailsFast() throws {
        let dir = try PNGTestDirectory()
        let path = dir.file("forged.png")
        // 1,000,000 × 1,000,000 8-bit gray declared, backed by a few bytes of IDAT.
        let ihdr = PNGBytes.bigEndian(1_000_000) + PNGBytes.bigEndian(1_000_000) + [8, 0, 0, 0, 0]
        let idat: [UInt8] = [0x78, 0x9C, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01]
        try PNGBytes.write(PNGBytes.signature + PNGBytes.chunk("IHDR", ihdr) + PNGBytes.chunk("IDAT", idat)
                               + PNGBytes.chunk("IEND", []), to: path)
        let clock = ContinuousClock()
        let started = clock.now
        let error = #expect(throws: RasterError.self) { try PNGReader(path: path) }
        #expect(clock.now - started < .seconds(1))
        #expect(error?.reason.contains("1000000×1000000") == true, "\(String(describing: error))")

        // Past libpng's dimension limit the header itself is refused.
        let tooWide = dir.file("too-wide.png")
        let wide = PNGBytes.bigEndian(2_000_000) + PNGBytes.bigEndian(1) + [8, 0, 0, 0, 0]
        try PNGBytes.write(PNGBytes.signature + PNGBytes.chunk("IHDR", wide) + PNGBytes.chunk("IDAT", idat)
                               + PNGBytes.chunk("IEND", []), to: tooWide)
        expectRefused(tooWide)
    }

    /// Text chunks are skipped, not held: one declaring 2^31 − 1 bytes in a tiny file made
    /// libpng allocate 2 GiB before it found the file short, and a real one larger than the
    /// chunk limit no longer stands in the way of the pixels.
    @Test func textChunksAreSkippedWhateverTheySay() throws {
        let dir = try PNGTestDirectory()
        let good = dir.file("good.png")
        try writeTestPNG(good, width: 3, height: 2, layout: .gray(bitDepth: 8)) { x, y, _ in UInt16(10 * y + x) }
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: good)))
        let afterHeader = PNGBytes.signature.count + 25
        let long = dir.file("long-text.png")
        let text = PNGBytes.chunk("tEXt", Array("Comment\u{0}".utf8) + [UInt8](repeating: 65, count: 12 << 20))
        try PNGBytes.write(Array(bytes[..<afterHeader]) + text + Array(bytes[afterHeader...]), to: long)
        #expect(try readWholePNG(long) == readWholePNG(good))

        let forged = dir.file("forged-text.png")
        for type in ["tEXt", "zTXt", "iTXt", "iCCP"] {
            try PNGBytes.write(Array(bytes[..<afterHeader]) + PNGBytes.bigEndian(0x7FFF_FFFF) + Array(type.utf8) + Array("abc".utf8),
                               to: forged)
            let clock = ContinuousClock()
            let started = clock.now
            expectRefused(forged)
            #expect(clock.now - started < .seconds(1))
        }
    }

    @Test func hugeInterlacedImageIsRefusedBeforeDecoding() throws {
        let dir = try PNGTestDirectory()
        let path = dir.file("adam7.png")
        // 20000 × 20000 interlaced gray: 381 MiB decoded at once. A 400 KB private chunk makes the
        // file large enough that the declared size is plausible, so the interlace limit decides.
        let ihdr = PNGBytes.bigEndian(20_000) + PNGBytes.bigEndian(20_000) + [8, 0, 0, 0, 1]
        let filler = PNGBytes.chunk("prVt", [UInt8](repeating: 0, count: 400_000))
        let idat: [UInt8] = [0x78, 0x9C, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01]
        try PNGBytes.write(PNGBytes.signature + PNGBytes.chunk("IHDR", ihdr) + filler + PNGBytes.chunk("IDAT", idat)
                               + PNGBytes.chunk("IEND", []), to: path)
        let error = #expect(throws: RasterError.self) { try PNGReader(path: path) }
        #expect(error?.reason.contains("interlaced (Adam7)") == true, "\(String(describing: error))")
    }

    @Test func notAPNGIsRefused() throws {
        let dir = try PNGTestDirectory()
        let text = dir.file("notes.png")
        try PNGBytes.write(Array("just some text, not an image\n".utf8), to: text)
        expectRefused(text, containing: "Not a PNG")
        let empty = dir.file("empty.png")
        try PNGBytes.write([], to: empty)
        expectRefused(empty)
        expectRefused(dir.file("missing.png"), containing: "cannot open")
        expectRefused(dir.path, containing: nil)
    }

    @Test func corruptMasksAreRefusedToo() throws {
        let dir = try PNGTestDirectory()
        let good = try Self.goodPNG(in: dir)
        let path = dir.file("cut.png")
        try PNGBytes.write(Array(good.prefix(good.count / 2)), to: path)
        let error = #expect(throws: RasterError.self) {
            let mask = try PNGMaskReader(path: path, legend: .generic(classCount: 250))
            _ = try mask.readRows(mask.info.height)
        }
        #expect(error?.path == path)
    }
}
