import Raster
import UNet

/// How raw band values become network inputs. Every mode is a per-band affine map
/// `(x − centre) / scale`; `percentile` also clips the result to [−1, 1].
public struct Normalization: Sendable, Equatable {
    public enum Mode: String, Sendable, CaseIterable {
        /// Zero mean, unit variance per band.
        case zscore
        /// The 2nd and 98th percentiles of each band map to −1 and 1; values beyond are clipped.
        case percentile
        /// The reference's: the global minimum and maximum over all bands map to −1 and 1.
        case minmaxGlobal = "minmax-global"
        /// Values pass through unchanged.
        case none
    }

    public var mode: Mode
    public var centre: [Float]
    public var scale: [Float]

    public init(mode: Mode, centre: [Float], scale: [Float]) {
        self.mode = mode
        self.centre = centre
        self.scale = scale.map { $0 > 0 && $0.isFinite ? $0 : 1 }
    }

    /// Passes values through unchanged.
    public static func identity(bands: Int) -> Normalization {
        Normalization(mode: .none, centre: [Float](repeating: 0, count: bands), scale: [Float](repeating: 1, count: bands))
    }

    public var bands: Int { centre.count }

    /// Whether a sample read by `TIFFReader.readWindowMarkingNodata` carries no data: the file's
    /// nodata value (made NaN by the reader), NaN, or an infinity (which no scaling makes finite,
    /// and which would turn every output it reaches into NaN).
    @inline(__always)
    public static func isMissing(_ sample: Float) -> Bool {
        !sample.isFinite
    }

    /// Normalises a band-major buffer (read with `readWindowMarkingNodata`) in place; missing
    /// samples (`isMissing`) become 0 (the data mean under `zscore`, mid-range otherwise), so they
    /// carry no signal.
    public func apply(to buffer: inout RasterBuffer) {
        let plane = buffer.planeSize
        let clip = mode == .percentile
        buffer.values.withUnsafeMutableBufferPointer { values in
            for band in 0..<buffer.bands {
                let c = centre[band], inverse = 1 / scale[band]
                for i in (band * plane)..<((band + 1) * plane) {
                    let x = values[i]
                    if Self.isMissing(x) { values[i] = 0; continue }
                    var y = (x - c) * inverse
                    if clip { y = min(max(y, -1), 1) }
                    values[i] = y
                }
            }
        }
    }

    /// The model file's form: `mean` holds the centres and `std` the scales.
    public var modelNormalization: ModelNormalization {
        ModelNormalization(mode: mode.rawValue, mean: centre.map(Double.init), std: scale.map(Double.init))
    }

    /// Reads the model file's form; nil metadata means identity.
    public init(_ stored: ModelNormalization?, bands: Int, path: String) throws {
        guard let stored else {
            self = .identity(bands: bands)
            return
        }
        guard let mode = Mode(rawValue: stored.mode) else {
            throw PipelineError(path: path, reason: "unknown normalization mode '\(stored.mode)' (expected \(Mode.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard stored.mean.count == bands, stored.std.count == bands else {
            throw PipelineError(path: path, reason: "normalization has \(stored.mean.count) means and \(stored.std.count) deviations for \(bands) bands")
        }
        // What this program stores is finite, with positive scales (a constant band's is 1);
        // anything else would scale every tile to nonsense or NaN without a word.
        if let band = stored.mean.indices.first(where: { !Float(stored.mean[$0]).isFinite || !(Float(stored.std[$0]) > 0) || !Float(stored.std[$0]).isFinite }) {
            throw PipelineError(path: path, reason: "normalization of band \(band + 1) has mean \(stored.mean[band]) and std \(stored.std[band]); a model needs finite means and positive, finite deviations")
        }
        self.init(mode: mode, centre: stored.mean.map { Float($0) }, scale: stored.std.map { Float($0) })
    }
}
