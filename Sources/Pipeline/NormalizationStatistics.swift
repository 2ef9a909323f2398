import Foundation
import Raster

/// The streaming pass over training scenes that fixes the normalisation a model is trained with
/// and applies at prediction. Missing samples (nodata, NaN, infinite) are ignored; a band without
/// a single other sample is an error, since nothing could be learnt from it.
public enum NormalizationStatistics {
    /// One scene's part to measure.
    public struct Region: Sendable {
        public var path: String
        public var area: PixelWindow
        public init(path: String, area: PixelWindow) {
            self.path = path
            self.area = area
        }
    }

    static let histogramBins = 4096

    /// Streams the regions once (twice for `percentile`) and returns the normalisation of `mode`.
    public static func compute(mode: Normalization.Mode, regions: [Region], bands: Int) throws -> Normalization {
        switch mode {
        case .none:
            // Nothing to measure: only that every band has a sample, which the first windows
            // usually show.
            var found = [Bool](repeating: false, count: bands)
            try forSamples(regions, bands: bands, while: { band, values in
                if !values.isEmpty { found[band] = true }
                return !found.allSatisfy { $0 }
            })
            try requireSamples(found, regions)
            return .identity(bands: bands)
        case .zscore:
            var sums = [Double](repeating: 0, count: bands)
            var squares = [Double](repeating: 0, count: bands)
            var counts = [Double](repeating: 0, count: bands)
            try forEachSample(regions, bands: bands) { band, values in
                var s = 0.0, q = 0.0, n = 0.0
                for v in values {
                    let d = Double(v)
                    s += d
                    q += d * d
                    n += 1
                }
                sums[band] += s
                squares[band] += q
                counts[band] += n
            }
            try requireSamples(counts.map { $0 > 0 }, regions)
            let means = (0..<bands).map { sums[$0] / counts[$0] }
            let stds = (0..<bands).map { b -> Double in
                guard counts[b] > 1 else { return 1 }
                return max(squares[b] / counts[b] - means[b] * means[b], 0).squareRoot()
            }
            return Normalization(mode: .zscore, centre: means.map { Float($0) }, scale: stds.map { Float($0) })
        case .minmaxGlobal:
            var low = Double.infinity, high = -Double.infinity
            var found = [Bool](repeating: false, count: bands)
            try forEachSample(regions, bands: bands) { band, values in
                if !values.isEmpty { found[band] = true }
                for v in values {
                    low = min(low, Double(v))
                    high = max(high, Double(v))
                }
            }
            try requireSamples(found, regions)
            let centre = Float((low + high) / 2), scale = Float(max((high - low) / 2, 1e-12))
            return Normalization(mode: .minmaxGlobal, centre: [Float](repeating: centre, count: bands),
                                 scale: [Float](repeating: scale, count: bands))
        case .percentile:
            // Two passes: the range of each band, then a histogram over it.
            var lows = [Double](repeating: .infinity, count: bands)
            var highs = [Double](repeating: -.infinity, count: bands)
            try forEachSample(regions, bands: bands) { band, values in
                for v in values {
                    lows[band] = min(lows[band], Double(v))
                    highs[band] = max(highs[band], Double(v))
                }
            }
            try requireSamples(lows.map(\.isFinite), regions)
            var histograms = [[Int]](repeating: [Int](repeating: 0, count: histogramBins), count: bands)
            try forEachSample(regions, bands: bands) { band, values in
                let low = lows[band], width = max(highs[band] - low, 1e-12) / Double(histogramBins)
                for v in values {
                    let bin = min(Int((Double(v) - low) / width), histogramBins - 1)
                    histograms[band][max(bin, 0)] += 1
                }
            }
            var centres: [Float] = [], scales: [Float] = []
            for band in 0..<bands {
                let width = max(highs[band] - lows[band], 1e-12) / Double(histogramBins)
                let p2 = percentile(0.02, histograms[band], low: lows[band], binWidth: width)
                let p98 = percentile(0.98, histograms[band], low: lows[band], binWidth: width)
                centres.append(Float((p2 + p98) / 2))
                scales.append(Float(max((p98 - p2) / 2, 1e-12)))
            }
            return Normalization(mode: .percentile, centre: centres, scale: scales)
        }
    }

    static func percentile(_ q: Double, _ histogram: [Int], low: Double, binWidth: Double) -> Double {
        let total = histogram.reduce(0, +)
        let target = q * Double(total)
        var cumulative = 0
        for (bin, count) in histogram.enumerated() {
            if Double(cumulative + count) >= target {
                let within = count > 0 ? (target - Double(cumulative)) / Double(count) : 0
                return low + (Double(bin) + within) * binWidth
            }
            cumulative += count
        }
        return low + Double(histogram.count) * binWidth
    }

    /// Throws for the first band without a valid sample, naming the scene, or the folder when
    /// the regions span several scenes.
    static func requireSamples(_ found: [Bool], _ regions: [Region]) throws {
        guard let band = found.firstIndex(of: false) else { return }
        let paths = Set(regions.map(\.path))
        let path = paths.count == 1 ? regions[0].path
            : Set(paths.map { ($0 as NSString).deletingLastPathComponent }).sorted().joined(separator: ", ")
        let scope = paths.count == 1 ? "in its training rows" : "in the training rows of any of its \(paths.count) scenes"
        throw PipelineError(path: path, reason: "band \(band + 1) has no valid sample \(scope) (each is nodata, NaN or infinite)")
    }

    /// Calls `body(band, samples)` for every window's valid samples of each band.
    static func forEachSample(_ regions: [Region], bands: Int,
                              _ body: (Int, UnsafeBufferPointer<Float>) -> Void) throws {
        try forSamples(regions, bands: bands, while: { band, values in
            body(band, values)
            return true
        })
    }

    /// As `forEachSample`, until `body` returns false.
    static func forSamples(_ regions: [Region], bands: Int,
                           while body: (Int, UnsafeBufferPointer<Float>) -> Bool) throws {
        var valid = [Float]()
        for region in regions {
            let reader = try TIFFReader(path: region.path)
            guard reader.info.bands == bands else {
                throw PipelineError(path: region.path, reason: "has \(reader.info.bands) bands, expected \(bands)")
            }
            for window in BlockReader(reader).windows(in: region.area) {
                let buffer = try reader.readWindowMarkingNodata(window)
                let plane = buffer.planeSize
                let more = buffer.values.withUnsafeBufferPointer { all in
                    var more = true
                    for band in 0..<bands {
                        valid.removeAll(keepingCapacity: true)
                        for v in all[(band * plane)..<((band + 1) * plane)] where !Normalization.isMissing(v) {
                            valid.append(v)
                        }
                        more = valid.withUnsafeBufferPointer { body(band, $0) } && more
                    }
                    return more
                }
                if !more { return }
            }
        }
    }
}
