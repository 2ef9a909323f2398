/// A problem in a pipeline file, at a line and column: `file:line:column: message`.
public struct PipelineFileError: Error, CustomStringConvertible, Sendable, Equatable {
    public var path: String
    /// 1-based; 0 when the problem is the file as a whole.
    public var line: Int
    public var column: Int
    public var message: String

    public init(path: String, line: Int, column: Int, message: String) {
        self.path = path
        self.line = line
        self.column = column
        self.message = message
    }

    public init(path: String, at position: SourcePosition, _ message: String) {
        self.init(path: path, line: position.line, column: position.column, message: message)
    }

    public var description: String {
        line > 0 ? "\(path):\(line):\(column): \(message)" : "\(path): \(message)"
    }
}

/// A place in a pipeline file, 1-based.
public struct SourcePosition: Sendable, Equatable {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    static let unknown = SourcePosition(line: 0, column: 0)
}
