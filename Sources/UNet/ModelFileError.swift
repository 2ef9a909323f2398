import Foundation

/// A model file that cannot be read or written: one line naming the file and what is wrong
/// (and, where it applies, the tensor).
public struct ModelFileError: Error, CustomStringConvertible, Sendable, Equatable {
    public var path: String
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }

    /// One line for an underlying error, with the JSON path for decoding errors.
    public static func explain(_ error: Error) -> String {
        guard let decoding = error as? DecodingError else {
            return (error as NSError).localizedDescription.replacingOccurrences(of: "\n", with: " ")
        }
        switch decoding {
        case .dataCorrupted(let context), .typeMismatch(_, let context), .valueNotFound(_, let context):
            let location = context.codingPath.map(\.stringValue).joined(separator: ".")
            return (location.isEmpty ? "" : "\(location): ") + context.debugDescription
        case .keyNotFound(let key, let context):
            let location = (context.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: ".")
            return "\(location) is missing"
        @unknown default:
            return "\(decoding)"
        }
    }
}
