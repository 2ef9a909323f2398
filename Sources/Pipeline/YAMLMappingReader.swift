import Foundation
import Yams

/// Reads the keys of one YAML mapping with their types, remembering which keys were read so that
/// any other key can be reported as unknown, each error at the offending node's line and column.
struct YAMLMappingReader {
    let file: String
    /// Folder that relative paths are resolved against.
    let base: String
    let position: SourcePosition
    private let entries: [(key: String, keyPosition: SourcePosition, value: Node)]
    private var read: Set<String> = []

    init(_ node: Node, file: String, base: String, what: String) throws {
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

    /// Throws the first of `problems` (messages that start with the command-line option they are
    /// about, `--key ...`) at that key's value, spelled as the file's key.
    func reject(_ problems: [String]) throws {
        guard let problem = problems.first else { return }
        let key = problem.split(separator: " ").first.map { String($0.dropFirst(2)) } ?? ""
        throw error(position(of: key), problem.replacingOccurrences(of: "--\(key)", with: "'\(key)'"))
    }

    /// The value node of `key` and its position, marking the key as known.
    mutating func node(_ key: String) -> (Node, SourcePosition)? {
        read.insert(key)
        guard let entry = entries.first(where: { $0.key == key }) else { return nil }
        return (entry.value, Self.position(of: entry.value))
    }

    /// Where `key`'s value is, or the mapping's own position when the key is absent.
    func position(of key: String) -> SourcePosition {
        entries.first(where: { $0.key == key }).map { Self.position(of: $0.value) } ?? position
    }

    private mutating func scalar<T>(_ key: String, _ type: String, _ convert: (Node.Scalar) -> T?) throws -> T? {
        guard let (node, at) = self.node(key) else { return nil }
        guard let scalar = node.scalar, let value = convert(scalar) else {
            throw error(at, "'\(key)' must be \(type), not \(Self.describe(node))")
        }
        return value
    }

    mutating func string(_ key: String) throws -> String? {
        try scalar(key, "a string") { $0.string }
    }

    mutating func int(_ key: String) throws -> Int? {
        try scalar(key, "a whole number") { Int.construct(from: $0) }
    }

    mutating func uint64(_ key: String) throws -> UInt64? {
        try scalar(key, "a non-negative whole number") { Int.construct(from: $0).flatMap { $0 >= 0 ? UInt64($0) : nil } }
    }

    mutating func double(_ key: String) throws -> Double? {
        try scalar(key, "a number") { Double.construct(from: $0) }
    }

    mutating func bool(_ key: String) throws -> Bool? {
        try scalar(key, "true or false") { Bool.construct(from: $0) }
    }

    /// One of `values` (the raw values of an enumeration).
    mutating func choice<T: RawRepresentable>(_ key: String, _ type: T.Type, _ values: [T]) throws -> T? where T.RawValue == String {
        guard let (node, at) = self.node(key) else { return nil }
        guard let text = node.scalar?.string, let value = T(rawValue: text) else {
            throw error(at, "'\(key)' must be one of \(values.map(\.rawValue).joined(separator: ", ")), not \(Self.describe(node))")
        }
        return value
    }

    /// A path, resolved against the pipeline file's folder.
    mutating func path(_ key: String) throws -> String? {
        guard let text = try string(key) else { return nil }
        guard !text.isEmpty else { throw error(position(of: key), "'\(key)' must be a path, not empty") }
        return resolve(text)
    }

    func resolve(_ path: String) -> String {
        let expanded = (path as NSString).expandingTildeInPath
        if expanded.hasPrefix("/") { return URL(fileURLWithPath: expanded).standardizedFileURL.path }
        return URL(fileURLWithPath: base).appendingPathComponent(expanded).standardizedFileURL.path
    }

    /// A list of scalars; a single scalar counts as a list of one.
    mutating func list<T>(_ key: String, _ type: String, _ convert: (Node.Scalar) -> T?) throws -> [T]? {
        guard let (node, at) = self.node(key) else { return nil }
        if let scalar = node.scalar {
            guard let value = convert(scalar) else { throw error(at, "'\(key)' must be \(type), not \(Self.describe(node))") }
            return [value]
        }
        guard let sequence = node.sequence else {
            throw error(at, "'\(key)' must be a list of \(type), not \(Self.describe(node))")
        }
        return try sequence.map { item in
            guard let scalar = item.scalar, let value = convert(scalar) else {
                throw error(Self.position(of: item), "each item of '\(key)' must be \(type), not \(Self.describe(item))")
            }
            return value
        }
    }

    /// Throws at the first key that was never asked for.
    func rejectUnknownKeys(known: String) throws {
        for entry in entries where !read.contains(entry.key) {
            throw error(entry.keyPosition, "unknown key '\(entry.key)'; known keys: \(known)")
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
