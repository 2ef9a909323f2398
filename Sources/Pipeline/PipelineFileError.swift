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

/// Every problem found in a pipeline file before anything ran, in the file's order: a user fixes
/// them all at once instead of one per run.
public struct PipelineFileProblems: Error, CustomStringConvertible, Sendable, Equatable {
    /// At most this many are kept; a file that is wrong everywhere is summarised.
    public static let limit = 20

    /// Never empty.
    public private(set) var problems: [PipelineFileError]
    /// Problems beyond `limit`, counted but not kept.
    public private(set) var omitted: Int

    public init(_ problem: PipelineFileError) {
        problems = [problem]
        omitted = 0
    }

    /// Nil when `problems` is empty. Sorted by line and column; their order among equals is kept.
    /// `omitted` counts problems already left out (by an earlier `PipelineFileProblems`).
    public init?(_ problems: [PipelineFileError], omitted: Int = 0) {
        guard !problems.isEmpty else { return nil }
        let sorted = problems.enumerated().sorted {
            ($0.element.line, $0.element.column, $0.offset) < ($1.element.line, $1.element.column, $1.offset)
        }.map(\.element)
        self.problems = Array(sorted.prefix(Self.limit))
        self.omitted = omitted + sorted.count - self.problems.count
    }

    /// One problem a line.
    public var lines: [String] {
        problems.map(\.description) + (omitted > 0 ? ["\(problems[0].path): and \(omitted) more problem\(omitted == 1 ? "" : "s")"] : [])
    }

    public var description: String { lines.joined(separator: "\n") }
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
