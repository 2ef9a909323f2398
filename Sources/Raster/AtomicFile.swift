import Foundation

/// Writes small files (manifests, reports, world files, legends) so that readers only ever see a
/// whole old or a whole new version, and removes the temporary files that killed runs leave
/// behind.
///
/// The temporary name is `TemporaryFileName.beside(_:)`, the scheme `TIFFWriter` uses too, so a
/// leftover can be traced to its (dead) process and its machine.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws(RasterError) {
        let temporary = TemporaryFileName.beside(path)
        // 0666 less the umask, as any other tool creates files; a replaced file's own mode wins.
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
        guard fd >= 0 else { throw failure(path, "cannot create \(temporary)") }
        var ok = data.withUnsafeBytes { bytes -> Bool in
            guard let base = bytes.baseAddress else { return true }
            var offset = 0
            while offset < bytes.count {
                let n = Glibc.write(fd, base + offset, bytes.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
        ok = ok && fsync(fd) == 0
        let writeError = failure(path, "cannot write \(temporary)")
        close(fd)
        guard ok else {
            unlink(temporary)
            throw writeError
        }
        TemporaryFileName.adoptPermissions(of: path, for: temporary)
        guard rename(temporary, path) == 0 else {
            let error = failure(path, "cannot rename \(temporary) into place")
            unlink(temporary)
            throw error
        }
    }

    static func failure(_ path: String, _ what: String) -> RasterError {
        RasterError(path: path, reason: "\(what) (\(String(cString: strerror(errno))))")
    }

    /// Removes the temporary files in `folder` that nobody will finish: those of processes of
    /// this machine that no longer exist, and those untouched for a day
    /// (`TemporaryFileName.isAbandoned(_:modified:now:)`). Returns their names.
    @discardableResult
    public static func removeStaleTemporaries(in folder: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        var removed: [String] = []
        for name in names where name.hasPrefix(".") {
            let path = (folder as NSString).appendingPathComponent(name)
            let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
            if TemporaryFileName.isAbandoned(name, modified: modified), unlink(path) == 0 { removed.append(name) }
        }
        return removed
    }
}
