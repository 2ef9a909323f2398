/// A rectangle of pixels: column `x`, row `y`, and its size.
public struct PixelWindow: Sendable, Hashable, CustomStringConvertible {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    public var pixelCount: Int { width * height }

    /// True when the window lies wholly inside an image of the given size and is not empty.
    public func fits(width imageWidth: Int, height imageHeight: Int) -> Bool {
        x >= 0 && y >= 0 && width > 0 && height > 0
            && x <= imageWidth - width && y <= imageHeight - height
    }

    public var description: String { "(\(x), \(y), \(width)×\(height))" }
}
