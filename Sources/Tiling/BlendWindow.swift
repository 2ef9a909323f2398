#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Per-pixel weights for blending overlapping tile predictions.
///
/// Along each axis a tile's weight is 0 for the outer quarter of the overlap (where the network
/// sees padding and is least reliable), rises as sin² across the middle half, and is 1 inside.
/// Neighbours that step by `tileSize − overlap` have mirrored ramps, so where they meet the
/// weights already sum to one (sin² + cos² = 1). Sides facing the scene's edge have no
/// neighbour and no taper.
public struct BlendWindow: Sendable, Equatable {
    public let tileSize: Int
    public let overlap: Int

    public init(tileSize: Int, overlap: Int) {
        self.tileSize = tileSize
        self.overlap = overlap
    }

    /// Pixels at each tapered edge whose weight is exactly zero.
    public var zeroBorder: Int { overlap / 4 }

    /// Weights along one axis of a tile; `taperStart`/`taperEnd` say whether that side has a neighbour.
    public func profile(taperStart: Bool, taperEnd: Bool) -> [Float] {
        let ramp = overlap - 2 * zeroBorder
        func edgeWeight(_ distance: Int) -> Float {
            if distance < zeroBorder { return 0 }
            let k = distance - zeroBorder
            if k >= ramp { return 1 }
            let s = sin(Double.pi / 2 * (Double(k) + 0.5) / Double(ramp))
            return Float(s * s)
        }
        return (0..<tileSize).map { i in
            var w: Float = 1
            if taperStart { w = min(w, edgeWeight(i)) }
            if taperEnd { w = min(w, edgeWeight(tileSize - 1 - i)) }
            return w
        }
    }
}
