import CPNG
import Foundation

/// Reads the stored sample values of a PNG, top row first.
///
/// Values are what the file stores: palette images give indices, 1/2/4-bit samples are unpacked
/// but not scaled, 16-bit samples stay 16-bit, and neither tRNS nor gamma is applied. A PNG is one
/// deflate stream, so rows can only be read forward: a window above the next row requires opening
/// the file again. Interlaced (Adam7) images are decoded whole on the first read, which is refused
/// when that would take more than `maximumInterlacedBytes`.
///
/// Not `Sendable`: one reader is used by one thread at a time.
public final class PNGReader {
    /// Largest decoded size of an interlaced image; libpng needs all seven passes before any row
    /// is complete, so such an image is held in memory whole.
    public static let maximumInterlacedBytes = 256 << 20

    /// Deflate cannot expand data more than about 1032 times, so a file whose header declares
    /// more pixels than that allows is forged or truncated and is refused before any allocation.
    static let maximumDeflateRatio = 1032

    public let info: RasterInfo
    /// The PLTE colours with their tRNS alpha, when the file has a palette.
    public let palette: [PNGPaletteEntry]?
    /// The gray or RGB value that tRNS marks transparent, when the file declares one.
    public let transparentColor: [UInt16]?
    /// The row the next read starts at.
    public private(set) var nextRow = 0

    let header: cpng_header
    private let handle: OpaquePointer
    private var rowBuffer: [UInt8]
    private var interlacedImage: [UInt8]?
    private var failure: RasterError?

    /// Opens `path` and reads its header; no image data is decoded yet.
    public init(path: String) throws {
        try RegularFile.check(path)
        var message = [CChar](repeating: 0, count: Int(CPNG_MESSAGE_SIZE))
        var opened: OpaquePointer?
        let status = cpng_reader_open(path, &opened, &message, message.count)
        guard status == 0, let opened else {
            throw RasterError.cannotOpen(path, PNGReader.reason(from: message, fallback: "cannot open"))
        }
        handle = opened
        let header = cpng_reader_header(opened).pointee
        self.header = header

        let colorType = Int(header.color_type)
        let width = Int(header.width), height = Int(header.height)
        info = RasterInfo(
            path: path, format: .png, width: width, height: height,
            bands: Int(header.channels), sampleType: header.bit_depth == 16 ? .uint16 : .uint8,
            bitsPerSample: Int(header.bit_depth), planar: .contiguous, tiled: false,
            compression: "deflate", bigTIFF: false, pages: 1, nodata: nil, georeferenced: false,
            isPalette: colorType == Int(CPNG_COLOR_PALETTE))
        palette = PNGReader.paletteEntries(header)
        if header.has_trans_color != 0 {
            let color = [header.trans_color.0, header.trans_color.1, header.trans_color.2]
            transparentColor = colorType == Int(CPNG_COLOR_GRAY) ? [color[0]] : color
        } else {
            transparentColor = nil
        }
        rowBuffer = []

        // Past this point `deinit` closes the handle, so throwing is safe.
        try checkDeclaredSizeFitsFile(path: path)
        if header.interlaced != 0 {
            // Both factors are bounded by CPNG_MAX_DIMENSION, so the product fits in Int.
            let decoded = Int(header.row_bytes) * height
            if decoded > PNGReader.maximumInterlacedBytes {
                throw RasterError(
                    path: path,
                    reason: "interlaced (Adam7) PNG of \(width)×\(height) needs \(decoded >> 20) MiB "
                        + "decoded at once, over the \(PNGReader.maximumInterlacedBytes >> 20) MiB limit; "
                        + "save it non-interlaced")
            }
        } else {
            rowBuffer = [UInt8](repeating: 0, count: Int(header.row_bytes))
        }
    }

    deinit {
        cpng_reader_close(handle)
    }

    /// Reads the next `count` rows, all columns, as Float32 band-major.
    public func readRows(_ count: Int) throws -> RasterBuffer {
        try readRows(count, columns: 0..<info.width)
    }

    /// Reads `window`, skipping forward to its first row. Rows above `nextRow` were already
    /// consumed and cannot be read again without reopening the file.
    public func readWindow(_ window: PixelWindow) throws -> RasterBuffer {
        guard window.fits(width: info.width, height: info.height) else {
            throw RasterError(path: info.path,
                              reason: "window \(window) is outside the \(info.width)×\(info.height) image")
        }
        guard window.y >= nextRow else {
            throw RasterError(
                path: info.path,
                reason: "window \(window) starts at row \(window.y) but the reader is already at row "
                    + "\(nextRow); a PNG cannot seek back, open it again")
        }
        try skipRows(window.y - nextRow)
        return try readRows(window.height, columns: window.x..<(window.x + window.width))
    }

    /// Decodes and discards `count` rows.
    public func skipRows(_ count: Int) throws {
        try checkRowsLeft(count)
        for _ in 0..<count {
            try withNextStoredRow { _ in }
        }
    }

    private func readRows(_ count: Int, columns: Range<Int>) throws -> RasterBuffer {
        try checkRowsLeft(count)
        let bands = info.bands, width = columns.count
        let bytesPerSample = header.bit_depth == 16 ? 2 : 1
        var values = [Float](repeating: 0, count: bands * width * count)
        try values.withUnsafeMutableBufferPointer { out in
            let plane = width * count
            for r in 0..<count {
                try withNextStoredRow { row in
                    let first = columns.lowerBound * bands * bytesPerSample
                    for b in 0..<bands {
                        var source = first + b * bytesPerSample
                        let target = b * plane + r * width
                        if bytesPerSample == 2 {
                            for x in 0..<width {
                                out[target + x] = Float(UInt16(row[source]) << 8 | UInt16(row[source + 1]))
                                source += 2 * bands
                            }
                        } else {
                            for x in 0..<width {
                                out[target + x] = Float(row[source])
                                source += bands
                            }
                        }
                    }
                }
            }
        }
        return RasterBuffer(bands: bands, width: width, height: count, values: values)
    }

    private func checkRowsLeft(_ count: Int) throws {
        guard count >= 0, count <= info.height - nextRow else {
            throw RasterError(
                path: info.path,
                reason: "cannot read \(count) rows from row \(nextRow) of a \(info.height)-row image")
        }
    }

    /// Hands the next row, as returned by the C reader (a byte per sample, or big-endian pairs
    /// for 16 bits), to `body`. After the last row the rest of the file is read, so a damaged
    /// tail is reported too. Once decoding failed every later call throws the same error:
    /// libpng's state is undefined after an error.
    func withNextStoredRow<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) throws -> Result {
        if let failure { throw failure }
        guard nextRow < info.height else {
            throw RasterError(path: info.path, reason: "all \(info.height) rows were already read")
        }
        if header.interlaced != 0 {
            let image = try decodedInterlacedImage()
            let rowBytes = Int(header.row_bytes), y = nextRow
            nextRow += 1
            if nextRow == info.height { interlacedImage = nil }
            return try image.withUnsafeBytes { bytes in
                try body(UnsafeRawBufferPointer(rebasing: bytes[(y * rowBytes)..<((y + 1) * rowBytes)]))
            }
        }
        let status = rowBuffer.withUnsafeMutableBufferPointer { buffer in
            cpng_reader_read_row(handle, buffer.baseAddress)
        }
        if status != 0 { throw fail("row \(nextRow): \(lastMessage)") }
        nextRow += 1
        if nextRow == info.height { try finishReading() }
        return try rowBuffer.withUnsafeBytes { try body($0) }
    }

    private func decodedInterlacedImage() throws -> [UInt8] {
        if let interlacedImage { return interlacedImage }
        let rowBytes = Int(header.row_bytes)
        var image = [UInt8](repeating: 0, count: rowBytes * info.height)
        let status = image.withUnsafeMutableBufferPointer { buffer in
            cpng_reader_read_image(handle, buffer.baseAddress, rowBytes)
        }
        if status != 0 { throw fail(lastMessage) }
        try finishReading()
        interlacedImage = image
        return image
    }

    private func finishReading() throws {
        if cpng_reader_finish(handle) != 0 { throw fail("after the image data: \(lastMessage)") }
    }

    private var lastMessage: String {
        String(cString: cpng_reader_message(handle))
    }

    private func fail(_ reason: String) -> RasterError {
        let error = RasterError(path: info.path, reason: reason)
        failure = error
        return error
    }

    private func checkDeclaredSizeFitsFile(path: String) throws {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: URL(fileURLWithPath: path).resolvingSymlinksInPath().path),
              attributes[.type] as? FileAttributeType == .typeRegular,
              let fileSize = (attributes[.size] as? NSNumber)?.intValue
        else { return }
        let (rows, overflowRows) = (Int(header.stored_row_bytes) + 1).multipliedReportingOverflow(by: info.height)
        let (limit, overflowLimit) = fileSize.multipliedReportingOverflow(by: PNGReader.maximumDeflateRatio)
        if overflowRows || (!overflowLimit && rows > limit) {
            throw RasterError(
                path: path,
                reason: "header declares \(info.width)×\(info.height) pixels, more than a "
                    + "\(fileSize)-byte file can hold (truncated or forged)")
        }
    }

    private static func paletteEntries(_ header: cpng_header) -> [PNGPaletteEntry]? {
        let count = Int(header.palette_count)
        guard count > 0 else { return nil }
        let transparent = Int(header.trans_count)
        return withUnsafeBytes(of: header.palette) { rgb in
            withUnsafeBytes(of: header.trans_alpha) { alpha in
                (0..<count).map { i in
                    PNGPaletteEntry(red: rgb[3 * i], green: rgb[3 * i + 1], blue: rgb[3 * i + 2],
                                    alpha: i < transparent ? alpha[i] : 255)
                }
            }
        }
    }

    static func reason(from message: [CChar], fallback: String) -> String {
        let bytes = message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return bytes.isEmpty ? fallback : String(decoding: bytes, as: UTF8.self)
    }
}
