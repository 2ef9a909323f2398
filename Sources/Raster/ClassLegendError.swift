/// Why a legend is invalid; `ClassLegend.load(path:)` puts the file name in front.
public struct ClassLegendError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String

    public init(_ reason: String) { self.reason = reason }

    public var description: String { reason }
}
