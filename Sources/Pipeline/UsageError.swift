/// An option value a command cannot work with: reported as bad usage (exit status 2), not as a
/// failed run.
public struct UsageError: Error, CustomStringConvertible, Sendable, Equatable {
    /// One problem a line.
    public var lines: [String]
    public var description: String { lines.joined(separator: "\n") }
    public init(_ description: String) { lines = [description] }
    public init(lines: [String]) { self.lines = lines }
}
