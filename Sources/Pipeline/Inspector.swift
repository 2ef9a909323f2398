import Foundation
import Raster

/// What `segpipe inspect` learns about one file: its header, and optionally per-band statistics
/// of the first page's stored samples, or the reason it could not be read.
public struct Inspection: Sendable {
    public var path: String
    public var info: RasterInfo?
    public var statistics: [BandStatistics]?
    public var error: String?

    public var succeeded: Bool { error == nil }

    /// One JSON object, the line `inspect --json` prints.
    public var json: JSONValue {
        guard let info, error == nil else {
            return .object([("path", .string(path)), ("ok", .bool(false)), ("error", .string(error ?? "unknown error"))])
        }
        var members: [(String, JSONValue)] = [
            ("path", .string(path)), ("ok", .bool(true)), ("format", .string(info.format.rawValue)),
            ("width", JSONValue(info.width)), ("height", JSONValue(info.height)), ("bands", JSONValue(info.bands)),
            ("sampleType", .string(info.sampleType.rawValue)), ("bitsPerSample", JSONValue(info.bitsPerSample)),
            ("planar", .string(info.planar.rawValue)), ("tiled", .bool(info.tiled)),
            ("compression", .string(info.compression)), ("bigtiff", .bool(info.bigTIFF)),
            ("pages", JSONValue(info.pages)), ("nodata", Self.nodataJSON(info.nodata)),
            ("georeferenced", .bool(info.georeferenced)), ("groundControlPoints", JSONValue(info.groundControlPoints)),
            ("rpc", .bool(info.hasRPCCoefficients)),
        ]
        if let statistics {
            // JSON has no infinity or NaN: such a figure is null, and the count tells a band of
            // NaN samples (0) from one whose figure is infinite.
            members.append(("stats", .array(statistics.map {
                .object([("min", .number($0.min)), ("max", .number($0.max)), ("mean", .number($0.mean)),
                         ("count", JSONValue($0.count))])
            })))
        }
        return .object(members)
    }

    private static func nodataJSON(_ value: Double?) -> JSONValue {
        // JSON has no NaN: a NaN nodata value is written as null, as the corpus's reference
        // decoders report it; the table form shows "nan".
        guard let value, value.isFinite else { return .null }
        return .number(value)
    }
}

/// Reads headers and streams statistics for `segpipe inspect`.
public enum Inspector {
    /// Inspects one file. `window` restricts the statistics to part of the first page.
    public static func inspect(path: String, statistics: Bool, window: PixelWindow? = nil) -> Inspection {
        do {
            switch try RasterFileKind.detect(path: path) {
            case .tiff:
                let reader = try TIFFReader(path: path)
                let stats = statistics ? try tiffStatistics(reader, path: path, window: window) : nil
                return Inspection(path: path, info: reader.info, statistics: stats)
            case .png:
                let reader = try PNGReader(path: path)
                let stats = statistics ? try pngStatistics(reader, path: path, window: window) : nil
                return Inspection(path: path, info: reader.info, statistics: stats)
            }
        } catch let error as RasterError {
            return Inspection(path: path, error: error.description)
        } catch {
            return Inspection(path: path, error: "\(path): \(error)")
        }
    }

    /// Parses `x,y,width,height` as given on the command line; nil when malformed.
    public static func parseWindow(_ text: String) -> PixelWindow? {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
            .map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 4, let x = parts[0], let y = parts[1], let w = parts[2], let h = parts[3],
              x >= 0, y >= 0, w > 0, h > 0 else { return nil }
        return PixelWindow(x: x, y: y, width: w, height: h)
    }

    static func checkedWindow(_ window: PixelWindow?, info: RasterInfo, path: String) throws -> PixelWindow {
        let full = PixelWindow(x: 0, y: 0, width: info.width, height: info.height)
        guard let window else { return full }
        guard window.fits(width: info.width, height: info.height) else {
            throw RasterError(path: path, reason: "window \(window) lies outside the \(info.width)×\(info.height) image")
        }
        return window
    }

    static func tiffStatistics(_ reader: TIFFReader, path: String, window: PixelWindow?) throws -> [BandStatistics] {
        let area = try checkedWindow(window, info: reader.info, path: path)
        var accumulator = BandStatisticsAccumulator(bands: reader.info.bands)
        // Read as Float64: the statistics are of the stored values, which for 32-bit integers
        // and 64-bit floats Float32 would round or overflow.
        for window in BlockReader(reader).windows(in: area) {
            let samples = try reader.readWindowExactly(window)
            accumulator.add(bands: samples.bands, values: samples.values)
        }
        return accumulator.statistics
    }

    static func pngStatistics(_ reader: PNGReader, path: String, window: PixelWindow?) throws -> [BandStatistics] {
        let info = reader.info
        let area = try checkedWindow(window, info: info, path: path)
        var accumulator = BandStatisticsAccumulator(bands: info.bands)
        let rowsPerRead = max(1, BlockReader.samplesPerWindow / max(info.bands * info.width, 1))
        var y = 0
        while y < area.y + area.height {
            let rows = min(rowsPerRead, area.y + area.height - y)
            let buffer = try reader.readRows(rows)
            let top = max(area.y - y, 0)
            if top < rows {
                accumulator.add(buffer.cropped(to: PixelWindow(x: area.x, y: top, width: area.width, height: rows - top)))
            }
            y += rows
        }
        return accumulator.statistics
    }
}
