/// A failure to read or write a raster file. Its description is one line naming the file and the
/// reason, which is what every command prints.
public struct RasterError: Error, CustomStringConvertible, Equatable, Sendable {
    public var path: String
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }
}
