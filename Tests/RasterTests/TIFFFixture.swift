import CTIFF
import Foundation
@testable import Raster

/// A TIFF written sample by sample with libtiff's raw strip and tile calls, so tests can make any
/// type, bit depth and layout the reader must handle, independently of `TIFFWriter`.
struct TIFFFixture {
    var width = 37
    var height = 29
    var bands = 1
    var bitsPerSample = 8
    /// 1 unsigned, 2 signed, 3 floating point.
    var sampleFormat: UInt16 = 1
    var planar: PlanarLayout = .contiguous
    /// Tile size, or nil for strips of `rowsPerStrip` rows.
    var tile: (width: Int, height: Int)?
    var rowsPerStrip = 5
    var compression: Int32 = COMPRESSION_NONE
    var predictor: UInt16 = 1
    var bigTIFF = false
    var bigEndian = false
    var photometric: Int32 = PHOTOMETRIC_MINISBLACK
    var colormapEntries: [UInt16]?
    var pages = 1
    var extraTags: [(tag: UInt32, text: String)] = []
    /// The stored value of (page, band, column, row); must be representable in the sample type.
    var value: @Sendable (_ page: Int, _ band: Int, _ x: Int, _ y: Int) -> Double = { page, band, x, y in
        Double((page * 7 + band * 31 + x * 3 + y * 5) % 256)
    }

    /// The whole page as the reader should return it.
    func expected(page: Int = 0) -> RasterBuffer {
        var buffer = RasterBuffer(bands: bands, width: width, height: height)
        for b in 0..<bands {
            for y in 0..<height {
                for x in 0..<width { buffer[b, y, x] = Float(value(page, b, x, y)) }
            }
        }
        return buffer
    }

    struct WriteError: Error, CustomStringConvertible {
        var description: String
    }

    func write(to path: String) throws {
        // libtiff keeps the pointer for the handle's lifetime, so it cannot be a Swift `&` temporary.
        let messages = UnsafeMutablePointer<ctiff_messages>.allocate(capacity: 1)
        messages.initialize(to: ctiff_messages())
        defer { messages.deallocate() }
        let mode = "w" + (bigTIFF ? "8" : "") + (bigEndian ? "b" : "l")
        guard let tif = ctiff_open(path, mode, messages, 0) else { throw WriteError(description: "open \(path)") }
        defer { TIFFClose(tif) }
        func check(_ ok: Int32, _ what: String) throws {
            if ok != 1 {
                let text = withUnsafeBytes(of: messages.pointee.lastError) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                throw WriteError(description: "\(what): \(text)")
            }
        }
        for page in 0..<pages {
            try check(ctiff_set_u32(tif, UInt32(TIFFTAG_IMAGEWIDTH), UInt32(width)), "width")
            try check(ctiff_set_u32(tif, UInt32(TIFFTAG_IMAGELENGTH), UInt32(height)), "height")
            try check(ctiff_set_u16(tif, UInt32(TIFFTAG_SAMPLESPERPIXEL), UInt16(bands)), "bands")
            try check(ctiff_set_u16(tif, UInt32(TIFFTAG_BITSPERSAMPLE), UInt16(bitsPerSample)), "bits")
            try check(ctiff_set_u16(tif, UInt32(TIFFTAG_SAMPLEFORMAT), sampleFormat), "format")
            try check(ctiff_set_u16(tif, UInt32(TIFFTAG_PLANARCONFIG),
                                    UInt16(planar == .separate ? PLANARCONFIG_SEPARATE : PLANARCONFIG_CONTIG)), "planar")
            try check(ctiff_set_u16(tif, UInt32(TIFFTAG_PHOTOMETRIC), UInt16(photometric)), "photometric")
            try check(ctiff_set_u16(tif, UInt32(TIFFTAG_COMPRESSION), UInt16(compression)), "compression")
            if predictor != 1 { try check(ctiff_set_u16(tif, UInt32(TIFFTAG_PREDICTOR), predictor), "predictor") }
            if photometric == PHOTOMETRIC_YCBCR {
                try check(ctiff_set_int(tif, UInt32(TIFFTAG_JPEGCOLORMODE), JPEGCOLORMODE_RGB), "colour mode")
            }
            let extras = bands - (photometric == PHOTOMETRIC_RGB || photometric == PHOTOMETRIC_YCBCR ? 3 : 1)
            if extras > 0 {
                let kinds = [UInt16](repeating: 0, count: extras)
                try check(ctiff_set_extrasamples(tif, UInt16(extras), kinds), "extra samples")
            }
            if let map = colormapEntries {
                try check(ctiff_set_colormap(tif, map, map, map), "colormap")
            }
            if !extraTags.isEmpty { _ = ctiff_register_geotiff_tags(tif) }
            for (tag, text) in extraTags { try check(ctiff_set_string(tif, tag, text), "tag \(tag)") }
            if pages > 1 {
                try check(ctiff_set_u32(tif, UInt32(TIFFTAG_SUBFILETYPE), UInt32(FILETYPE_PAGE)), "subfile")
                try check(ctiff_set_u16_pair(tif, UInt32(TIFFTAG_PAGENUMBER), UInt16(page), UInt16(pages)), "page")
            }
            let chunkWidth = tile?.width ?? width
            let chunkHeight = tile?.height ?? min(rowsPerStrip, height)
            if let tile {
                try check(ctiff_set_u32(tif, UInt32(TIFFTAG_TILEWIDTH), UInt32(tile.width)), "tile width")
                try check(ctiff_set_u32(tif, UInt32(TIFFTAG_TILELENGTH), UInt32(tile.height)), "tile height")
            } else {
                try check(ctiff_set_u32(tif, UInt32(TIFFTAG_ROWSPERSTRIP), UInt32(rowsPerStrip)), "rows per strip")
            }
            let across = (width + chunkWidth - 1) / chunkWidth
            let down = (height + chunkHeight - 1) / chunkHeight
            let planes = planar == .separate ? bands : 1
            let samplesPerRow = chunkWidth * (planar == .separate ? 1 : bands)
            let rowBytes = (samplesPerRow * bitsPerSample + 7) / 8
            for plane in 0..<planes {
                for cy in 0..<down {
                    for cx in 0..<across {
                        let rows = tile == nil ? min(chunkHeight, height - cy * chunkHeight) : chunkHeight
                        var bytes = [UInt8](repeating: 0, count: rows * rowBytes)
                        for r in 0..<rows {
                            let y = cy * chunkHeight + r
                            for c in 0..<chunkWidth {
                                let x = cx * chunkWidth + c
                                guard x < width, y < height else { continue }
                                for b in (planar == .separate ? plane..<(plane + 1) : 0..<bands) {
                                    let sample = c * (planar == .separate ? 1 : bands) + (planar == .separate ? 0 : b)
                                    store(value(page, b, x, y), at: sample, row: r * rowBytes, in: &bytes)
                                }
                            }
                        }
                        let index = UInt32((plane * down + cy) * across + cx)
                        let written = tile == nil
                            ? TIFFWriteEncodedStrip(tif, index, &bytes, tmsize_t(bytes.count))
                            : TIFFWriteEncodedTile(tif, index, &bytes, tmsize_t(bytes.count))
                        try check(written >= 0 ? 1 : 0, "chunk \(index)")
                    }
                }
            }
            try check(TIFFWriteDirectory(tif), "directory")
        }
    }

    /// Packs one native-order sample; libtiff swaps it for big-endian files.
    private func store(_ value: Double, at sample: Int, row: Int, in bytes: inout [UInt8]) {
        if bitsPerSample < 8 {
            let bit = sample * bitsPerSample
            let mask = (1 << bitsPerSample) - 1
            let raw = Int(value) & mask
            bytes[row + bit / 8] |= UInt8(raw << (8 - bitsPerSample - bit % 8))
            return
        }
        let offset = row + sample * bitsPerSample / 8
        bytes.withUnsafeMutableBytes { raw in
            switch (sampleFormat, bitsPerSample) {
            case (1, 8): raw.storeBytes(of: UInt8(value), toByteOffset: offset, as: UInt8.self)
            case (2, 8): raw.storeBytes(of: Int8(value), toByteOffset: offset, as: Int8.self)
            case (1, 16): raw.storeBytes(of: UInt16(value), toByteOffset: offset, as: UInt16.self)
            case (2, 16): raw.storeBytes(of: Int16(value), toByteOffset: offset, as: Int16.self)
            case (1, 32): raw.storeBytes(of: UInt32(value), toByteOffset: offset, as: UInt32.self)
            case (2, 32): raw.storeBytes(of: Int32(value), toByteOffset: offset, as: Int32.self)
            case (1, 64): raw.storeBytes(of: UInt64(value), toByteOffset: offset, as: UInt64.self)
            case (2, 64): raw.storeBytes(of: Int64(value), toByteOffset: offset, as: Int64.self)
            case (3, 16): raw.storeBytes(of: Self.half(Float(value)), toByteOffset: offset, as: UInt16.self)
            case (3, 32): raw.storeBytes(of: Float(value), toByteOffset: offset, as: Float.self)
            case (3, 64): raw.storeBytes(of: value, toByteOffset: offset, as: Double.self)
            default: break
            }
        }
    }

    /// binary16 bits of a value that binary16 represents exactly (normal, zero, or ±infinity).
    static func half(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        let sign = UInt16((bits >> 16) & 0x8000)
        if value == 0 { return sign }
        if value.isInfinite { return sign | 0x7c00 }
        if value.isNaN { return 0x7e00 }
        let exponent = Int((bits >> 23) & 0xff) - 127 + 15
        return sign | UInt16(exponent) << 10 | UInt16((bits >> 13) & 0x3ff)
    }
}

/// A folder under the system's temporary directory, removed when the test drops it.
final class TemporaryFolder {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "segpipe-raster-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }

    var contents: [String] { (try? FileManager.default.contentsOfDirectory(atPath: path))?.sorted() ?? [] }
}
