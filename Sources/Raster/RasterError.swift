import Foundation

/// A failure to read or write a raster file. Its description is one line naming the file and the
/// reason, which is what every command prints.
public struct RasterError: Error, CustomStringConvertible, Equatable, Sendable {
    public var path: String
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }

    /// A file that cannot be opened: `reason`, unless the name explains it. A name on disk that
    /// is not valid UTF-8 (Latin-1 names are common) reaches segpipe with U+FFFD in place of its
    /// bad bytes, and that spelling names no file.
    public static func cannotOpen(_ path: String, _ reason: String) -> RasterError {
        if path.contains("\u{FFFD}") && !FileManager.default.fileExists(atPath: path) {
            return RasterError(path: path, reason: "cannot open: its name is not valid UTF-8 (the bad bytes show as \u{FFFD}), which segpipe cannot read; rename the file")
        }
        // A staging folder of links whose targets moved: "no such file" would contradict `ls`.
        // Only when following the link finds nothing: a loop or a folder that cannot be searched
        // has other reasons.
        var status = stat()
        if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path),
           stat(path, &status) != 0, errno == ENOENT {
            let folder = (path as NSString).deletingLastPathComponent
            let resolved = target.hasPrefix("/") || folder.isEmpty ? target : (folder as NSString).appendingPathComponent(target)
            return RasterError(path: path, reason: "is a symbolic link to \(resolved), which does not exist")
        }
        return RasterError(path: path, reason: reason)
    }
}
