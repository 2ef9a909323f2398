import CPNG
import Foundation

/// Writes a PNG row by row. The file is written under a temporary name in the same folder and
/// renamed to `path` by `finish()`; a writer dropped before `finish()` removes its temporary file.
///
/// An interlaced (Adam7) file needs every row before the first pass is written, so interlaced
/// output is held in memory until `finish()`.
public final class PNGWriter {
    /// The colour type and bit depth of the file.
    public enum Layout: Sendable, Equatable {
        /// Bit depth 1, 2, 4, 8 or 16.
        case gray(bitDepth: Int)
        /// Bit depth 8 or 16.
        case grayAlpha(bitDepth: Int)
        /// Bit depth 8 or 16.
        case rgb(bitDepth: Int)
        /// Bit depth 8 or 16.
        case rgba(bitDepth: Int)
        /// At most 2^bitDepth entries; bit depth 1, 2, 4 or 8. Alpha below 255 goes into tRNS.
        case palette([PNGPaletteEntry], bitDepth: Int)

        var bitDepth: Int {
            switch self {
            case .gray(let depth), .grayAlpha(let depth), .rgb(let depth), .rgba(let depth),
                 .palette(_, let depth):
                return depth
            }
        }

        var channels: Int {
            switch self {
            case .gray, .palette: return 1
            case .grayAlpha: return 2
            case .rgb: return 3
            case .rgba: return 4
            }
        }

        var colorType: Int32 {
            switch self {
            case .gray: return Int32(CPNG_COLOR_GRAY)
            case .grayAlpha: return Int32(CPNG_COLOR_GRAY_ALPHA)
            case .rgb: return Int32(CPNG_COLOR_RGB)
            case .rgba: return Int32(CPNG_COLOR_RGBA)
            case .palette: return Int32(CPNG_COLOR_PALETTE)
            }
        }

        var isValid: Bool {
            switch self {
            case .gray(let depth): return [1, 2, 4, 8, 16].contains(depth)
            case .grayAlpha(let depth), .rgb(let depth), .rgba(let depth): return depth == 8 || depth == 16
            case .palette(let entries, let depth):
                return [1, 2, 4, 8].contains(depth) && !entries.isEmpty && entries.count <= 1 << depth
            }
        }
    }

    public let path: String
    public let width: Int
    public let height: Int
    public let layout: Layout
    public let interlaced: Bool
    /// Rows given so far.
    public private(set) var rowsWritten = 0

    private let temporaryPath: String
    private var handle: OpaquePointer?
    private var rowBuffer: [UInt8]
    private var interlacedImage: [UInt8] = []
    private let maximumSample: Int
    private var failure: RasterError?

    /// The longest side a PNG may have here (libpng's own limit, which readers share).
    public static let maximumSide = Int(CPNG_MAX_DIMENSION)

    public init(path: String, width: Int, height: Int, layout: Layout, interlaced: Bool = false) throws {
        guard layout.isValid else {
            throw RasterError(path: path, reason: "cannot write a PNG with layout \(layout)")
        }
        guard (1...Self.maximumSide).contains(width), (1...Self.maximumSide).contains(height) else {
            throw RasterError(path: path, reason: "cannot write a \(width)×\(height) PNG (at most \(Self.maximumSide) pixels a side)")
        }
        self.path = path
        self.width = width
        self.height = height
        self.layout = layout
        self.interlaced = interlaced
        temporaryPath = TemporaryFileName.beside(path)
        if case .palette(let entries, let depth) = layout {
            maximumSample = min(entries.count, 1 << depth) - 1
        } else {
            maximumSample = (1 << layout.bitDepth) - 1
        }
        rowBuffer = [UInt8](repeating: 0, count: width * layout.channels * (layout.bitDepth == 16 ? 2 : 1))

        var message = [CChar](repeating: 0, count: Int(CPNG_MESSAGE_SIZE))
        var opened: OpaquePointer?
        guard cpng_writer_open(temporaryPath, &opened, &message, message.count) == 0, let opened else {
            throw RasterError(path: path, reason: PNGReader.reason(from: message, fallback: "cannot create"))
        }
        handle = opened
        var rgb: [UInt8] = []
        var alpha: [UInt8] = []
        if case .palette(let entries, _) = layout {
            rgb = entries.flatMap { [$0.red, $0.green, $0.blue] }
            // tRNS only needs to reach the last entry that is not opaque.
            if let last = entries.lastIndex(where: { $0.alpha != 255 }) {
                alpha = entries[...last].map(\.alpha)
            }
        }
        let status = cpng_writer_set_header(
            opened, UInt32(width), UInt32(height), Int32(layout.bitDepth), layout.colorType,
            interlaced ? 1 : 0, rgb, Int32(rgb.count / 3), alpha, Int32(alpha.count))
        if status != 0 { throw fail(lastMessage) }
        if interlaced { interlacedImage.reserveCapacity(rowBuffer.count * height) }
    }

    deinit {
        if let handle {
            cpng_writer_close(handle)
            unlink(temporaryPath)
        }
    }

    /// Writes the next row: `width` × channels samples, each below 2^bitDepth (or the palette size).
    public func writeRow(_ samples: UnsafeBufferPointer<UInt16>) throws {
        try checkRow(samples.count)
        let wide = layout.bitDepth == 16
        let limit = maximumSample
        try rowBuffer.withUnsafeMutableBufferPointer { row in
            for (i, sample) in samples.enumerated() {
                guard Int(sample) <= limit else {
                    throw fail("sample \(sample) at column \(i / layout.channels) of row \(rowsWritten) "
                        + "does not fit \(layout.bitDepth)-bit \(layoutName)")
                }
                if wide {
                    row[2 * i] = UInt8(sample >> 8)
                    row[2 * i + 1] = UInt8(sample & 0xFF)
                } else {
                    row[i] = UInt8(sample)
                }
            }
        }
        try emitRow()
    }

    public func writeRow(_ samples: [UInt16]) throws {
        try samples.withUnsafeBufferPointer { try writeRow($0) }
    }

    /// Writes the next row of a layout of at most 8 bits: a byte per sample.
    public func writeRow(bytes samples: UnsafeBufferPointer<UInt8>) throws {
        guard layout.bitDepth <= 8 else {
            throw fail("\(layout.bitDepth)-bit rows must be given as 16-bit samples")
        }
        try checkRow(samples.count)
        let limit = maximumSample
        if limit < 255, let bad = samples.firstIndex(where: { Int($0) > limit }) {
            throw fail("sample \(samples[bad]) at column \(bad / layout.channels) of row \(rowsWritten) "
                + "does not fit \(layout.bitDepth)-bit \(layoutName)")
        }
        _ = rowBuffer.withUnsafeMutableBufferPointer { $0.update(fromContentsOf: samples) }
        try emitRow()
    }

    /// Completes the file and renames it to `path`.
    public func finish() throws {
        if let failure { throw failure }
        guard let handle else { throw RasterError(path: path, reason: "the PNG was already finished") }
        guard rowsWritten == height else {
            throw fail("only \(rowsWritten) of \(height) rows were written")
        }
        if interlaced {
            let status = interlacedImage.withUnsafeBufferPointer {
                cpng_writer_write_image(handle, $0.baseAddress, rowBuffer.count)
            }
            if status != 0 { throw fail(lastMessage) }
        }
        if cpng_writer_finish(handle) != 0 { throw fail(lastMessage) }
        cpng_writer_close(handle)
        self.handle = nil
        TemporaryFileName.adoptPermissions(of: path, for: temporaryPath)
        if rename(temporaryPath, path) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(temporaryPath)
            throw RasterError(path: path, reason: "cannot rename the finished PNG into place: \(reason)")
        }
    }

    private var layoutName: String {
        switch layout {
        case .gray: return "gray"
        case .grayAlpha: return "gray+alpha"
        case .rgb: return "RGB"
        case .rgba: return "RGBA"
        case .palette(let entries, _): return "palette of \(entries.count) entries"
        }
    }

    private func checkRow(_ count: Int) throws {
        if let failure { throw failure }
        guard handle != nil else { throw RasterError(path: path, reason: "the PNG was already finished") }
        guard rowsWritten < height else { throw fail("all \(height) rows were already written") }
        guard count == width * layout.channels else {
            throw fail("row \(rowsWritten) has \(count) samples, expected \(width * layout.channels)")
        }
    }

    private func emitRow() throws {
        if interlaced {
            interlacedImage.append(contentsOf: rowBuffer)
        } else if let handle {
            let status = rowBuffer.withUnsafeBufferPointer { cpng_writer_write_row(handle, $0.baseAddress) }
            if status != 0 { throw fail("row \(rowsWritten): \(lastMessage)") }
        }
        rowsWritten += 1
    }

    private var lastMessage: String {
        guard let handle else { return "writer closed" }
        return String(cString: cpng_writer_message(handle))
    }

    /// libpng's state is undefined after an error, so the writer refuses everything afterwards.
    private func fail(_ reason: String) -> RasterError {
        let error = RasterError(path: path, reason: reason)
        failure = error
        return error
    }
}
