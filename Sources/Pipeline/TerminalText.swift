/// Text for a terminal or a log file: one line per message, whatever a file name holds. A name
/// may contain a newline or an escape sequence; printed raw, it would split an error in two or
/// redraw the terminal.
public enum TerminalText {
    /// `text` with control characters written as escapes (`\n`, `\t`, `\u{1B}`), so it stays
    /// one line.
    public static func line(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var escaped = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            guard isControl(scalar) else {
                escaped.append(scalar)
                continue
            }
            switch scalar {
            case "\n": escaped.append(contentsOf: #"\n"#.unicodeScalars)
            case "\r": escaped.append(contentsOf: #"\r"#.unicodeScalars)
            case "\t": escaped.append(contentsOf: #"\t"#.unicodeScalars)
            default: escaped.append(contentsOf: "\\u{\(String(scalar.value, radix: 16, uppercase: true))}".unicodeScalars)
            }
        }
        return String(escaped)
    }

    /// The lines an error prints as: one per problem for errors that list several, else one.
    public static func lines(of error: any Error) -> [String] {
        let lines: [String]
        switch error {
        case let problems as PipelineFileProblems: lines = problems.lines
        case let problems as DatasetProblems: lines = problems.problems
        case let usage as UsageError: lines = usage.lines
        default: lines = ["\(error)"]
        }
        return lines.map(line)
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }
}
