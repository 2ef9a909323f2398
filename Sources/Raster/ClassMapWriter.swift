/// Writes a class map (one class id per pixel) as an 8-bit palette PNG coloured by the legend,
/// row by row. The value 255 ("no label") is written as a fully transparent palette entry. The
/// palette has all 256 entries so that index 255 exists; entries the legend does not use are black.
public final class ClassMapWriter {
    public let legend: ClassLegend
    public var path: String { writer.path }
    public var width: Int { writer.width }
    public var height: Int { writer.height }
    /// Rows written so far.
    public var rowsWritten: Int { writer.rowsWritten }

    private let writer: PNGWriter
    /// 256 entries: true for the legend's ids and the ignore value.
    private let acceptedIDs: [Bool]

    public init(path: String, width: Int, height: Int, legend: ClassLegend) throws {
        self.legend = legend
        var palette = [PNGPaletteEntry](repeating: PNGPaletteEntry(red: 0, green: 0, blue: 0), count: 256)
        var accepted = [Bool](repeating: false, count: 256)
        for entry in legend.classes {
            palette[Int(entry.id)] = PNGPaletteEntry(red: entry.color.red, green: entry.color.green,
                                                     blue: entry.color.blue)
            accepted[Int(entry.id)] = true
        }
        palette[Int(ClassLegend.ignoreValue)] = PNGPaletteEntry(red: 0, green: 0, blue: 0, alpha: 0)
        accepted[Int(ClassLegend.ignoreValue)] = true
        acceptedIDs = accepted
        writer = try PNGWriter(path: path, width: width, height: height, layout: .palette(palette, bitDepth: 8))
    }

    /// Writes whole rows of class ids, row-major; `ids.count` must be a multiple of the width.
    public func writeRows(_ ids: UnsafeBufferPointer<UInt8>) throws {
        let width = writer.width
        guard ids.count % width == 0 else {
            throw RasterError(path: path, reason: "\(ids.count) class ids are not whole rows of \(width)")
        }
        guard ids.count / width <= height - rowsWritten else {
            throw RasterError(path: path, reason: "\(ids.count / width) more rows do not fit: "
                + "\(rowsWritten) of \(height) are written")
        }
        try acceptedIDs.withUnsafeBufferPointer { accepted in
            for (i, id) in ids.enumerated() where !accepted[Int(id)] {
                throw RasterError(
                    path: path,
                    reason: "class id \(id) at pixel (\(i % width), \(rowsWritten + i / width)) is not in "
                        + "the legend (\(legend.idSummary); 255 = no label)")
            }
        }
        for start in stride(from: 0, to: ids.count, by: width) {
            try writer.writeRow(bytes: UnsafeBufferPointer(rebasing: ids[start..<(start + width)]))
        }
    }

    public func writeRows(_ ids: [UInt8]) throws {
        try ids.withUnsafeBufferPointer { try writeRows($0) }
    }

    /// Completes the PNG and, when `geoReference` places it on the map, writes its world file
    /// (`.pgw`) beside it.
    public func finish(geoReference: GeoReference? = nil) throws {
        try writer.finish()
        if let geoReference, geoReference.isGeoreferenced {
            try WorldFile.write(geoReference, forImage: writer.path)
        }
    }
}
