/// An option value a command cannot work with: reported as bad usage (exit status 2), not as a
/// failed run.
public struct UsageError: Error, CustomStringConvertible, Sendable, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
