import Foundation

/// Where `segpipe run` writes its lines: plain text, one line per event, no colour or redrawing.
public struct RunLog: Sendable {
    public enum Level: Int, Sendable, Comparable {
        case quiet, normal, verbose
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
    }

    public var level: Level
    private let sink: @Sendable (_ line: String, _ isError: Bool) -> Void

    public init(level: Level, sink: @escaping @Sendable (_ line: String, _ isError: Bool) -> Void) {
        self.level = level
        self.sink = sink
    }

    /// Lines to stdout, errors to stderr, each written at once (unbuffered) so that a log of a
    /// killed run is complete up to the kill; a line that cannot be written is dropped. A file
    /// name's control characters are escaped, so that one event stays one line.
    public static func standard(level: Level) -> RunLog {
        RunLog(level: level) { line, isError in
            StandardStreams.write(TerminalText.line(line) + "\n", to: isError ? STDERR_FILENO : STDOUT_FILENO)
        }
    }

    /// Progress and results; silent with `--quiet`.
    public func info(_ line: String) { if level >= .normal { sink(line, false) } }
    /// Details; only with `--verbose`.
    public func detail(_ line: String) { if level >= .verbose { sink(line, false) } }
    /// Failures; always shown.
    public func error(_ line: String) { sink(line, true) }
}
