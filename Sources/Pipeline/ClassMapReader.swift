import Raster

/// Reads a class map top to bottom as one class id per pixel, from either
/// - a PNG mask, through `PNGMaskReader` (palette indices and gray values are ids, RGB colours are
///   mapped through the legend, 255 and transparent pixels are "no label"), or
/// - a single-band TIFF of class ids (any integer or float sample type; the GDAL nodata value,
///   when the file declares one, NaN and 255 are "no label", as in training).
///
/// A value that is not a class id of the legend is an error naming the file, the value and the
/// pixel. Not `Sendable`: each reader is used by one thread.
final class ClassMapReader {
    let path: String
    let width: Int
    let height: Int
    /// The row the next read starts at.
    private(set) var nextRow = 0

    private enum Source {
        case png(PNGMaskReader)
        case tiff(TIFFReader)
    }

    private let source: Source
    private let legend: ClassLegend
    /// 256 entries: true for the legend's ids and the ignore value.
    private let acceptedIDs: [Bool]

    init(path: String, legend: ClassLegend) throws {
        self.path = path
        self.legend = legend
        switch try RasterFileKind.detect(path: path) {
        case .png:
            let reader = try PNGMaskReader(path: path, legend: legend)
            source = .png(reader)
            (width, height) = (reader.info.width, reader.info.height)
        case .tiff:
            let reader = try TIFFReader(path: path)
            guard reader.info.bands == 1 else {
                throw RasterError(path: path, reason: "has \(reader.info.bands) bands; a class-map TIFF must be "
                    + "a single band of class ids")
            }
            source = .tiff(reader)
            (width, height) = (reader.info.width, reader.info.height)
        }
        var accepted = [Bool](repeating: false, count: 256)
        for entry in legend.classes { accepted[Int(entry.id)] = true }
        accepted[Int(ClassLegend.ignoreValue)] = true
        acceptedIDs = accepted
    }

    /// Reads the next `count` rows into `ids`, row-major, which must hold `count` × width values.
    func readRows(_ count: Int, into ids: UnsafeMutableBufferPointer<UInt8>) throws {
        guard count >= 0, count <= height - nextRow, ids.count >= count * width else {
            throw RasterError(path: path, reason: "cannot read \(count) rows from row \(nextRow) of a "
                + "\(height)-row class map into \(ids.count) ids")
        }
        guard count > 0 else { return }
        switch source {
        case .png(let reader):
            try reader.readRows(count, into: ids)
        case .tiff(let reader):
            let window = PixelWindow(x: 0, y: nextRow, width: width, height: count)
            let samples = try reader.readWindowMarkingNodata(window)
            try convert(samples.values, firstRow: nextRow, into: ids)
        }
        nextRow += count
    }

    /// Turns TIFF samples into ids, refusing fractions and values outside the legend.
    /// NaN, the file's nodata value included, is no label.
    private func convert(_ values: [Float], firstRow: Int, into ids: UnsafeMutableBufferPointer<UInt8>) throws {
        try values.withUnsafeBufferPointer { samples in
            try acceptedIDs.withUnsafeBufferPointer { accepted in
                for i in 0..<samples.count {
                    let value = samples[i]
                    if value.isNaN {
                        ids[i] = ClassLegend.ignoreValue
                        continue
                    }
                    guard value >= 0, value <= 255, value == value.rounded(), accepted[Int(value)] else {
                        throw RasterError(
                            path: path,
                            reason: "value \(Self.describe(value)) at pixel (\(i % width), \(firstRow + i / width)) "
                                + "is not a class id of the legend (\(Self.idList(legend)); 255 = no label)")
                    }
                    ids[i] = UInt8(value)
                }
            }
        }
    }

    private static func describe(_ value: Float) -> String {
        value.isFinite && value == value.rounded() && abs(value) < 1e9 ? String(Int(value)) : "\(value)"
    }

    private static func idList(_ legend: ClassLegend) -> String {
        "ids " + legend.classes.map { String($0.id) }.joined(separator: ", ")
    }
}
