import Foundation
import Yams

/// Reads the keys of one YAML mapping with their types, remembering which keys were read so that
/// any other key can be reported as unknown. A value of the wrong type is collected in `problems`
/// at its line and column, and read as absent, so that one pass finds every problem of a stage.
struct YAMLMappingReader {
    let file: String
    /// Folder that relative paths are resolved against.
    let base: String
    let position: SourcePosition
    private let entries: [(key: String, keyPosition: SourcePosition, value: Node)]
    private var read: Set<String> = []
    /// What was wrong with the values read so far, in reading order.
    private(set) var problems: [PipelineFileError] = []
    /// Keys whose value was of the wrong type, read as absent.
    private var badKeys: Set<String> = []

    init(_ node: Node, file: String, base: String, what: String) throws(PipelineFileError) {
        self.file = file
        self.base = base
        position = Self.position(of: node)
        guard let mapping = node.mapping else {
            throw PipelineFileError(path: file, at: position, "\(what) must be a mapping of keys to values")
        }
        var entries: [(String, SourcePosition, Node)] = []
        for (key, value) in mapping {
            guard let name = key.scalar?.string else {
                throw PipelineFileError(path: file, at: Self.position(of: key), "keys must be plain names")
            }
            if entries.contains(where: { $0.0 == name }) {
                throw PipelineFileError(path: file, at: Self.position(of: key), "'\(name)' is given twice")
            }
            entries.append((name, Self.position(of: key), value))
        }
        self.entries = entries
    }

    static func position(of node: Node) -> SourcePosition {
        node.mark.map { SourcePosition(line: $0.line, column: $0.column) } ?? .unknown
    }

    func error(_ at: SourcePosition, _ message: String) -> PipelineFileError {
        PipelineFileError(path: file, at: at, message)
    }

    /// Records a problem at `at`.
    mutating func report(_ at: SourcePosition, _ message: String) {
        problems.append(error(at, message))
    }

    /// Records `problems` (messages that start with the command-line option they are about,
    /// `--key ...`), each at that key's value, spelled as the file's key. A problem that names a
    /// key whose value was of the wrong type, or a key of a group with such a key (options
    /// checked together), is left out: it would judge the default read in that value's place.
    mutating func reject(_ problems: [String], groups: [Set<String>] = []) {
        var suspect = badKeys
        for group in groups where !group.isDisjoint(with: badKeys) { suspect.formUnion(group) }
        for problem in problems where !suspect.contains(where: { problem.contains("--\($0)") }) {
            let key = problem.split(separator: " ").first.map { String($0.dropFirst(2)) } ?? ""
            report(position(of: key), problem.replacingOccurrences(of: "--\(key)", with: "'\(key)'"))
        }
    }

    /// The value node of `key` and its position, marking the key as known.
    mutating func node(_ key: String) -> (Node, SourcePosition)? {
        read.insert(key)
        guard let entry = entries.first(where: { $0.key == key }) else { return nil }
        return (entry.value, Self.position(of: entry.value))
    }

    /// Whether the mapping has `key`, read or not.
    func contains(_ key: String) -> Bool {
        entries.contains { $0.key == key }
    }

    /// Where `key`'s value is, or the mapping's own position when the key is absent.
    func position(of key: String) -> SourcePosition {
        entries.first(where: { $0.key == key }).map { Self.position(of: $0.value) } ?? position
    }

    private mutating func scalar<T>(_ key: String, _ type: String, _ convert: (Node.Scalar) -> T?) -> T? {
        guard let (node, at) = self.node(key) else { return nil }
        guard let scalar = node.scalar, let value = convert(scalar) else {
            var message = "'\(key)' must be \(type), not \(Self.describe(node))"
            // "16" and '16' look like the number they are not.
            if let scalar = node.scalar, scalar.style == .singleQuoted || scalar.style == .doubleQuoted,
               convert(Node.Scalar(scalar.string)) != nil {
                message += " (quoted, so YAML reads it as text; remove the quotes)"
            }
            report(at, message)
            badKeys.insert(key)
            return nil
        }
        return value
    }

    mutating func string(_ key: String) -> String? {
        scalar(key, "a string") { $0.string }
    }

    mutating func int(_ key: String) -> Int? {
        scalar(key, "a whole number") { Int.construct(from: $0) }
    }

    mutating func uint64(_ key: String) -> UInt64? {
        // Up to 2^64 − 1, as on the command line (Int stops at 2^63 − 1), read as YAML reads every
        // other whole number (010 is octal 8).
        scalar(key, "a non-negative whole number") { UInt64.construct(from: $0) }
    }

    mutating func double(_ key: String) -> Double? {
        scalar(key, "a number") { Double.construct(from: $0) }
    }

    mutating func bool(_ key: String) -> Bool? {
        scalar(key, "true or false") { Bool.construct(from: $0) }
    }

    /// One of `values` (the raw values of an enumeration).
    mutating func choice<T: RawRepresentable>(_ key: String, _ type: T.Type, _ values: [T]) -> T? where T.RawValue == String {
        guard let (node, at) = self.node(key) else { return nil }
        guard let text = node.scalar?.string, let value = T(rawValue: text) else {
            report(at, "'\(key)' must be one of \(values.map(\.rawValue).joined(separator: ", ")), not \(Self.describe(node))")
            badKeys.insert(key)
            return nil
        }
        return value
    }

    /// A path, resolved against the pipeline file's folder.
    mutating func path(_ key: String) -> String? {
        guard let text = string(key) else { return nil }
        guard !text.isEmpty else {
            report(position(of: key), "'\(key)' must be a path, not empty")
            return nil
        }
        return resolve(text)
    }

    func resolve(_ path: String) -> String {
        let expanded = (path as NSString).expandingTildeInPath
        if expanded.hasPrefix("/") { return URL(fileURLWithPath: expanded).standardizedFileURL.path }
        return URL(fileURLWithPath: base).appendingPathComponent(expanded).standardizedFileURL.path
    }

    /// A list of scalars; a single scalar counts as a list of one. Nil, with every bad item
    /// reported, when any is of the wrong type.
    mutating func list<T>(_ key: String, _ type: String, _ convert: (Node.Scalar) -> T?) -> [T]? {
        guard let (node, at) = self.node(key) else { return nil }
        if let scalar = node.scalar {
            guard let value = convert(scalar) else {
                report(at, "'\(key)' must be \(type), not \(Self.describe(node))")
                return nil
            }
            return [value]
        }
        guard let sequence = node.sequence else {
            report(at, "'\(key)' must be a list of \(type), not \(Self.describe(node))")
            return nil
        }
        var values: [T] = []
        for item in sequence {
            guard let scalar = item.scalar, let value = convert(scalar) else {
                report(Self.position(of: item), "each item of '\(key)' must be \(type), not \(Self.describe(item))")
                continue
            }
            values.append(value)
        }
        return values.count == sequence.count ? values : nil
    }

    /// Records every key that was never asked for.
    mutating func rejectUnknownKeys(known: String) {
        for entry in entries where !read.contains(entry.key) {
            report(entry.keyPosition, "unknown key '\(entry.key)'; known keys: \(known)")
        }
    }

    var knownKeys: [String] { read.sorted() }

    static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): return "'\(scalar.string)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }
}
