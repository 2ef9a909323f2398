import Foundation

/// Refuses what is not a regular file before anything opens it: opening a FIFO blocks until a
/// writer comes, for ever in a nightly run, and signals cannot end the wait; a device never ends.
public enum RegularFile {
    /// Why `path` (followed through links) cannot be read as `noun` ("an image file", "a
    /// legend"), or nil when it is a regular file.
    public static func problem(_ path: String, noun: String = "an image file") -> String? {
        var status = stat()
        guard stat(path, &status) == 0 else {
            // The caller's own open names what is wrong (no such file, permission, a link).
            return nil
        }
        switch status.st_mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFDIR: return "is a folder, not \(noun)"
        case S_IFIFO: return "is a FIFO (named pipe), not \(noun); segpipe reads only regular files"
        default: return "is a device or socket, not \(noun)"
        }
    }

    /// Throws `RasterError` with `problem(path)` when there is one.
    public static func check(_ path: String, noun: String = "an image file") throws(RasterError) {
        if let problem = problem(path, noun: noun) { throw RasterError(path: path, reason: problem) }
    }
}
