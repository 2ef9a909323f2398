import Foundation
import Yams

/// A legend file, JSON or YAML:
///
///     classes:
///       - id: 0
///         name: "background"
///         color: [255, 255, 255]
///
/// Ids are 0–254 and must include 0 (background); 255 is reserved for "no label".
extension ClassLegend: Codable {
    private enum CodingKeys: String, CodingKey { case classes }

    private struct Record: Codable {
        var id: Int
        var name: String
        var color: [Int]
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let records = try container.decode([Record].self, forKey: .classes)
        var entries: [Entry] = []
        for (index, record) in records.enumerated() {
            let place = "classes[\(index)]"
            guard (0...255).contains(record.id) else {
                throw ClassLegend.corrupted(container, "\(place): id \(record.id) is outside 0–254")
            }
            guard record.color.count == 3, record.color.allSatisfy({ (0...255).contains($0) }) else {
                throw ClassLegend.corrupted(
                    container, "\(place): color must be three integers 0–255, got \(record.color)")
            }
            entries.append(Entry(id: UInt8(record.id), name: record.name,
                                 color: Color(UInt8(record.color[0]), UInt8(record.color[1]),
                                              UInt8(record.color[2]))))
        }
        do {
            try self.init(classes: entries)
        } catch {
            throw ClassLegend.corrupted(container, error.reason)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(classes.map(Self.record), forKey: .classes)
    }

    private static func record(_ entry: Entry) -> Record {
        Record(id: Int(entry.id), name: entry.name,
               color: [Int(entry.color.red), Int(entry.color.green), Int(entry.color.blue)])
    }

    private static func corrupted(_ container: KeyedDecodingContainer<CodingKeys>, _ reason: String)
        -> DecodingError
    {
        .dataCorrupted(.init(codingPath: container.codingPath, debugDescription: reason))
    }

    /// Reads a legend from a `.json`, `.yml` or `.yaml` file. Errors name the file and the problem.
    public static func load(path: String) throws -> ClassLegend {
        let format = try fileFormat(path)
        try RegularFile.check(path, noun: "a legend")
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot read the legend (\(error.localizedDescription))" : "no such file"
            throw RasterError(path: path, reason: reason)
        }
        do {
            switch format {
            case .json:
                return try JSONDecoder().decode(ClassLegend.self, from: data)
            case .yaml:
                guard let text = String(data: data, encoding: .utf8) else {
                    throw RasterError(path: path, reason: "legend is not UTF-8 text")
                }
                return try YAMLDecoder().decode(ClassLegend.self, from: text)
            }
        } catch let error as RasterError {
            throw error
        } catch let error as DecodingError {
            throw RasterError(path: path, reason: "invalid legend: \(describe(error))")
        } catch {
            let text = String(describing: error).split(whereSeparator: \.isNewline).joined(separator: " ")
            throw RasterError(path: path, reason: "invalid legend: \(text)")
        }
    }

    /// Writes the legend as JSON or YAML by the file's extension, replacing the file atomically.
    public func save(path: String) throws {
        let text: String
        switch try Self.fileFormat(path) {
        case .json: text = jsonText
        case .yaml: text = yamlText
        }
        try AtomicFile.write(Data(text.utf8), to: path)
    }

    /// One class per line, so a person can edit it.
    public var jsonText: String {
        let lines = classes.map { entry in
            "    {\"id\": \(entry.id), \"name\": \(Self.quoted(entry.name)), "
                + "\"color\": [\(entry.color.red), \(entry.color.green), \(entry.color.blue)]}"
        }
        return "{\n  \"classes\": [\n" + lines.joined(separator: ",\n") + "\n  ]\n}\n"
    }

    public var yamlText: String {
        var text = "classes:\n"
        for entry in classes {
            text += "  - id: \(entry.id)\n"
            text += "    name: \(Self.quoted(entry.name))\n"
            text += "    color: [\(entry.color.red), \(entry.color.green), \(entry.color.blue)]\n"
        }
        return text
    }

    /// A JSON string literal, which is also a valid YAML double-quoted scalar.
    private static func quoted(_ name: String) -> String { JSONStringLiteral.quoted(name) }

    private enum FileFormat { case json, yaml }

    private static func fileFormat(_ path: String) throws -> FileFormat {
        switch URL(fileURLWithPath: path).pathExtension.lowercased() {
        case "json": return .json
        case "yml", "yaml": return .yaml
        default: throw RasterError(path: path, reason: "legend files must end in .json, .yml or .yaml")
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func place(_ path: [any CodingKey]) -> String {
            var text = ""
            for key in path {
                if let index = key.intValue { text += "[\(index)]" } else { text += (text.isEmpty ? "" : ".") + key.stringValue }
            }
            return text.isEmpty ? "top level" : text
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "\(place(context.codingPath)): missing field \"\(key.stringValue)\""
        case .typeMismatch(let type, let context):
            return "\(place(context.codingPath)): expected \(type)"
        case .valueNotFound(let type, let context):
            return "\(place(context.codingPath)): missing \(type) value"
        case .dataCorrupted(let context):
            if let underlying = context.underlyingError {
                return "\(context.debugDescription) (\(underlying))"
                    .split(whereSeparator: \.isNewline).joined(separator: " ")
            }
            return context.debugDescription
        @unknown default:
            return String(describing: error)
        }
    }
}
