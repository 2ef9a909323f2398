import Raster

/// The human-readable form of `segpipe inspect`: one row per file, statistics indented below.
public struct InspectionTable: Sendable {
    public init() {}

    static let columns = ["format", "size", "bands", "type", "bits", "planar", "tiled", "compression",
                          "bigtiff", "pages", "nodata", "geo"]

    public var header: String { (["file"] + Self.columns).joined(separator: "\t") }

    public func rows(for inspection: Inspection) -> [String] {
        guard let info = inspection.info, inspection.error == nil else {
            return [TerminalText.line(inspection.path) + "\terror: " + TerminalText.line(inspection.error ?? "unknown")]
        }
        let cells = [
            info.format.rawValue, "\(info.width)×\(info.height)", "\(info.bands)", info.sampleType.rawValue,
            "\(info.bitsPerSample)", info.planar.rawValue, info.tiled ? "yes" : "no", info.compression,
            info.bigTIFF ? "yes" : "no", "\(info.pages)", info.nodata.map { $0.isFinite ? JSONValue.format($0) : "\($0)" } ?? "-",
            Self.geoCell(info),
        ]
        var lines = [([TerminalText.line(inspection.path)] + cells).joined(separator: "\t")]
        for (band, s) in (inspection.statistics ?? []).enumerated() {
            lines.append("  band \(band + 1)\tmin \(formatExtreme(s.min))\tmax \(formatExtreme(s.max))\tmean \(formatMean(s.mean))\tcount \(s.count)")
        }
        return lines
    }

    /// "yes" for an affine georeference, else what places the file: ground control points, RPC
    /// coefficients, or "no".
    static func geoCell(_ info: RasterInfo) -> String {
        if info.georeferenced { return "yes" }
        var kinds: [String] = []
        if info.groundControlPoints > 0 { kinds.append("\(info.groundControlPoints) gcps") }
        if info.hasRPCCoefficients { kinds.append("rpc") }
        return kinds.isEmpty ? "no" : kinds.joined(separator: ", ")
    }

    /// A band's minimum or maximum: a float band may hold ±infinity (JSON, which cannot, says null).
    private func formatExtreme(_ value: Double) -> String {
        value.isFinite ? JSONValue.format(value) : "\(value)"
    }

    private func formatMean(_ value: Double) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : "\(value)" }
        let scaled = (value * 10_000).rounded() / 10_000
        return "\(scaled)"
    }
}
