import Raster

/// Mirror padding without repeating the edge sample (numpy's `reflect`, OpenCV's
/// `BORDER_REFLECT_101`), extended periodically so a pad wider than the image still works.
public enum ReflectPadding {
    /// The in-image coordinate that mirrors coordinate `i` of an axis of length `size`.
    @inline(__always)
    public static func index(_ i: Int, size: Int) -> Int {
        if size <= 1 { return 0 }
        if i >= 0 && i < size { return i }
        let period = 2 * (size - 1)
        var m = i % period
        if m < 0 { m += period }
        return m < size ? m : period - m
    }

    /// The smallest in-image window holding every sample that `window` mirrors onto.
    public static func sourceWindow(for window: PixelWindow, width: Int, height: Int) -> PixelWindow {
        func span(_ start: Int, _ length: Int, _ size: Int) -> (Int, Int) {
            if start >= 0 && start + length <= size { return (start, length) }
            var lo = Int.max, hi = Int.min
            for i in start..<(start + length) {
                let m = index(i, size: size)
                lo = min(lo, m)
                hi = max(hi, m)
            }
            return (lo, hi - lo + 1)
        }
        let (x, w) = span(window.x, window.width, width)
        let (y, h) = span(window.y, window.height, height)
        return PixelWindow(x: x, y: y, width: w, height: h)
    }

    /// Builds the samples of `window` (which may extend past the image) from `source`, the
    /// in-image samples of `sourceWindow(for: window, ...)`, mirroring at the image's edges.
    public static func extract(_ window: PixelWindow, from source: RasterBuffer, at sourceOrigin: PixelWindow,
                               width: Int, height: Int) -> RasterBuffer {
        if window == sourceOrigin { return source }
        let columns = (0..<window.width).map { index(window.x + $0, size: width) - sourceOrigin.x }
        let rows = (0..<window.height).map { index(window.y + $0, size: height) - sourceOrigin.y }
        var out = [Float](repeating: 0, count: source.bands * window.pixelCount)
        source.values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for band in 0..<source.bands {
                    for (r, sr) in rows.enumerated() {
                        let srcRow = (band * source.height + sr) * source.width
                        let dstRow = (band * window.height + r) * window.width
                        for (c, sc) in columns.enumerated() { dst[dstRow + c] = src[srcRow + sc] }
                    }
                }
            }
        }
        return RasterBuffer(bands: source.bands, width: window.width, height: window.height, values: out)
    }
}
