/// Float32 samples of a window, band-major: all of band 0 row by row, then band 1, and so on.
public struct RasterBuffer: Sendable, Equatable {
    public var bands: Int
    public var width: Int
    public var height: Int
    public var values: [Float]

    public init(bands: Int, width: Int, height: Int, values: [Float]) {
        precondition(values.count == bands * width * height, "buffer size does not match its shape")
        self.bands = bands
        self.width = width
        self.height = height
        self.values = values
    }

    public init(bands: Int, width: Int, height: Int, repeating value: Float = 0) {
        self.init(bands: bands, width: width, height: height,
                  values: [Float](repeating: value, count: bands * width * height))
    }

    public var planeSize: Int { width * height }

    public subscript(band: Int, row: Int, column: Int) -> Float {
        get { values[(band * height + row) * width + column] }
        set { values[(band * height + row) * width + column] = newValue }
    }
}

extension RasterBuffer {
    /// The part of this buffer inside `window`, whose coordinates are relative to the buffer.
    public func cropped(to window: PixelWindow) -> RasterBuffer {
        precondition(window.fits(width: width, height: height), "crop window \(window) outside \(width)×\(height)")
        if window.x == 0 && window.y == 0 && window.width == width && window.height == height { return self }
        var out = [Float]()
        out.reserveCapacity(bands * window.pixelCount)
        values.withUnsafeBufferPointer { source in
            for band in 0..<bands {
                for row in window.y..<(window.y + window.height) {
                    let start = (band * height + row) * width + window.x
                    out.append(contentsOf: source[start..<(start + window.width)])
                }
            }
        }
        return RasterBuffer(bands: bands, width: window.width, height: window.height, values: out)
    }
}
