/// An impossible tiling request, such as an overlap as large as the tile.
public struct TilingError: Error, CustomStringConvertible, Sendable, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
