import CPNG

/// Reads a PNG mask as one class id per pixel, streaming rows.
///
/// - Gray (any bit depth) and palette images store the id itself (a palette index is the id).
/// - RGB and RGBA images (8-bit) store the class colour, mapped to its id through the legend.
/// - A fully transparent pixel of a gray+alpha or RGBA image, and the value 255 anywhere, mean
///   "no label" (`ClassLegend.ignoreValue`).
///
/// A value or colour the legend does not know is an error naming it and the first pixel (x, y)
/// where it occurs. Like `PNGReader`, rows only go forward.
public final class PNGMaskReader {
    public let legend: ClassLegend
    public let info: RasterInfo
    /// The row the next read starts at.
    public var nextRow: Int { reader.nextRow }

    private enum Encoding {
        case index(bytesPerSample: Int, channels: Int)  // gray, gray+alpha, palette
        case color(channels: Int)  // RGB or RGBA, 8-bit
    }

    private let reader: PNGReader
    private let encoding: Encoding
    /// 256 entries: true for the legend's ids and the ignore value.
    private let acceptedIDs: [Bool]

    public init(path: String, legend: ClassLegend) throws {
        reader = try PNGReader(path: path)
        info = reader.info
        self.legend = legend
        let colorType = Int(reader.header.color_type)
        let bitDepth = Int(reader.header.bit_depth)
        switch colorType {
        case Int(CPNG_COLOR_RGB), Int(CPNG_COLOR_RGBA):
            guard bitDepth == 8 else {
                throw RasterError(path: path, reason: "a colour mask must be 8-bit RGB or RGBA, this one is \(bitDepth)-bit")
            }
            encoding = .color(channels: info.bands)
        default:
            encoding = .index(bytesPerSample: bitDepth == 16 ? 2 : 1, channels: info.bands)
        }
        var accepted = [Bool](repeating: false, count: 256)
        for entry in legend.classes { accepted[Int(entry.id)] = true }
        accepted[Int(ClassLegend.ignoreValue)] = true
        acceptedIDs = accepted
    }

    /// Reads the next `count` rows as class ids, row-major (`count` × width).
    public func readRows(_ count: Int) throws -> [UInt8] {
        var ids = [UInt8](repeating: 0, count: count * info.width)
        try ids.withUnsafeMutableBufferPointer { try readRows(count, into: $0) }
        return ids
    }

    /// Reads the next `count` rows into `ids`, which must hold `count` × width values.
    public func readRows(_ count: Int, into ids: UnsafeMutableBufferPointer<UInt8>) throws {
        let width = info.width
        guard ids.count >= count * width else {
            throw RasterError(path: info.path, reason: "buffer of \(ids.count) ids cannot hold \(count) rows of \(width)")
        }
        guard count >= 0, count <= info.height - reader.nextRow else {
            throw RasterError(path: info.path,
                              reason: "cannot read \(count) rows from row \(reader.nextRow) of a \(info.height)-row mask")
        }
        for r in 0..<count {
            let y = reader.nextRow
            let out = UnsafeMutableBufferPointer(rebasing: ids[(r * width)..<((r + 1) * width)])
            try reader.withNextStoredRow { row in
                switch encoding {
                case .index(let bytesPerSample, let channels):
                    try decodeIndices(row, bytesPerSample: bytesPerSample, channels: channels, y: y, into: out)
                case .color(let channels):
                    try decodeColors(row, channels: channels, y: y, into: out)
                }
            }
        }
    }

    private func decodeIndices(_ row: UnsafeRawBufferPointer, bytesPerSample: Int, channels: Int, y: Int,
                               into out: UnsafeMutableBufferPointer<UInt8>) throws {
        try acceptedIDs.withUnsafeBufferPointer { accepted in
            let stride = bytesPerSample * channels
            for x in 0..<out.count {
                let at = x * stride
                var value = Int(row[at])
                if bytesPerSample == 2 { value = value << 8 | Int(row[at + 1]) }
                if channels == 2 {
                    // Gray+alpha: a transparent pixel is unlabelled whatever its gray value.
                    let alpha = bytesPerSample == 2 ? Int(row[at + 2]) << 8 | Int(row[at + 3]) : Int(row[at + 1])
                    if alpha == 0 { value = Int(ClassLegend.ignoreValue) }
                }
                guard value < 256, accepted[value] else {
                    throw RasterError(
                        path: info.path,
                        reason: "value \(value) at pixel (\(x), \(y)) is not a class id of the legend "
                            + "(\(legend.idSummary); 255 = no label)")
                }
                out[x] = UInt8(value)
            }
        }
    }

    private func decodeColors(_ row: UnsafeRawBufferPointer, channels: Int, y: Int,
                              into out: UnsafeMutableBufferPointer<UInt8>) throws {
        // Masks come in long runs of one colour, so remember the last lookup.
        var lastColor: UInt32 = 0xFFFF_FFFF
        var lastID: UInt8 = 0
        for x in 0..<out.count {
            let at = x * channels
            if channels == 4 && row[at + 3] == 0 {
                out[x] = ClassLegend.ignoreValue
                continue
            }
            let packed = UInt32(row[at]) << 16 | UInt32(row[at + 1]) << 8 | UInt32(row[at + 2])
            if packed != lastColor {
                guard let id = legend.id(forPackedColor: packed) else {
                    throw RasterError(
                        path: info.path,
                        reason: "colour (\(row[at]), \(row[at + 1]), \(row[at + 2])) at pixel (\(x), \(y)) "
                            + "is not in the legend")
                }
                lastColor = packed
                lastID = id
            }
            out[x] = lastID
        }
    }
}
