import Raster

/// The eight symmetries of a square: rotations by multiples of 90° and the four reflections.
/// Used to augment training tiles and for test-time augmentation, where each prediction is
/// mapped back through the exact inverse.
public enum DihedralTransform: Int, CaseIterable, Sendable {
    case identity, rotate90, rotate180, rotate270
    case flipHorizontal, flipVertical, transpose, antiTranspose

    /// The transform that undoes this one.
    public var inverse: DihedralTransform {
        switch self {
        case .rotate90: return .rotate270
        case .rotate270: return .rotate90
        default: return self
        }
    }

    /// True when the transform exchanges width and height.
    public var swapsAxes: Bool {
        switch self {
        case .rotate90, .rotate270, .transpose, .antiTranspose: return true
        default: return false
        }
    }

    /// Where source pixel (row, column) of an image `height` × `width` lands.
    /// Rotations are counter-clockwise, as numpy's `rot90`.
    @inline(__always)
    public func destination(row r: Int, column c: Int, height h: Int, width w: Int) -> (row: Int, column: Int) {
        switch self {
        case .identity: return (r, c)
        case .rotate90: return (w - 1 - c, r)
        case .rotate180: return (h - 1 - r, w - 1 - c)
        case .rotate270: return (c, h - 1 - r)
        case .flipHorizontal: return (r, w - 1 - c)
        case .flipVertical: return (h - 1 - r, c)
        case .transpose: return (c, r)
        case .antiTranspose: return (w - 1 - c, h - 1 - r)
        }
    }

    /// The transformed buffer; every band moves the same way.
    public func apply(to buffer: RasterBuffer) -> RasterBuffer {
        if self == .identity { return buffer }
        let h = buffer.height, w = buffer.width
        let outHeight = swapsAxes ? w : h, outWidth = swapsAxes ? h : w
        var out = [Float](repeating: 0, count: buffer.values.count)
        buffer.values.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                for band in 0..<buffer.bands {
                    let base = band * h * w
                    for r in 0..<h {
                        for c in 0..<w {
                            let d = destination(row: r, column: c, height: h, width: w)
                            target[base + d.row * outWidth + d.column] = source[base + r * w + c]
                        }
                    }
                }
            }
        }
        return RasterBuffer(bands: buffer.bands, width: outWidth, height: outHeight, values: out)
    }

    /// For a `side` × `side` square: where each pixel lands, both as row-major indices. Packing
    /// loops look this up instead of working out `destination` for every pixel of every tile.
    public func destinationIndices(side: Int) -> [Int] {
        // The inverse moves each pixel's own index to where this transform sends it from.
        inverse.apply(toPlane: Array(0..<(side * side)), height: side, width: side)
    }

    /// Applies the transform to a per-pixel array of one value per pixel (a class or ignore mask).
    public func apply<T>(toPlane values: [T], height h: Int, width w: Int) -> [T] {
        if self == .identity { return values }
        var out = values
        let outWidth = swapsAxes ? h : w
        for r in 0..<h {
            for c in 0..<w {
                let d = destination(row: r, column: c, height: h, width: w)
                out[d.row * outWidth + d.column] = values[r * w + c]
            }
        }
        return out
    }
}
