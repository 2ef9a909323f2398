import Foundation
import Raster

/// What identifies the content of an input file for the batch manifest: its size, modification
/// time (nanoseconds since 1970) and FNV-1a content hash.
public struct FileFingerprint: Codable, Sendable, Equatable {
    public var size: Int64
    public var modifiedNanoseconds: Int64
    public var hash: String

    /// Size and modification time, read without touching the content.
    /// Device and inode of the file at `path`, following links; nil when there is none. Two
    /// spellings of one file (a link, a bind mount) have the same.
    static func identity(of path: String) -> [UInt64]? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return [UInt64(info.st_dev), UInt64(info.st_ino)]
    }

    public static func status(of path: String) throws -> (size: Int64, modifiedNanoseconds: Int64) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let reason = "cannot be read (\(String(cString: strerror(errno))))"
            // A name that is not UTF-8 is the likely reason; say so as the readers do.
            throw PipelineError(path: path, reason: RasterError.cannotOpen(path, reason).reason)
        }
        return (Int64(info.st_size), Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec))
    }

    public static func of(_ path: String) throws -> FileFingerprint {
        let (size, modified) = try status(of: path)
        return FileFingerprint(size: size, modifiedNanoseconds: modified, hash: try FNV1aHash.ofFile(path).hex)
    }

    /// The file's fingerprint, hashing it only when its size or modification time differs from
    /// `previous` (as make and rsync do); a file touched without a change keeps matching.
    public static func of(_ path: String, reusingHashOf previous: FileFingerprint?) throws -> FileFingerprint {
        let (size, modified) = try status(of: path)
        if let previous, previous.size == size, previous.modifiedNanoseconds == modified {
            return previous
        }
        return FileFingerprint(size: size, modifiedNanoseconds: modified, hash: try FNV1aHash.ofFile(path).hex)
    }
}
