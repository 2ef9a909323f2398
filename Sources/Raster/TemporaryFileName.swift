import Foundation

/// Names of files written under a temporary name and renamed into place: `.NAME.tmp-PID@HOST-RANDOM`
/// beside the destination. A leftover can be traced to its process and machine, so a sweep
/// removes only those of dead processes on this machine, never a live write of another machine
/// sharing the folder (shards on a shared volume), and those nobody has written to for
/// `abandonedAfter`.
public enum TemporaryFileName {
    /// A temporary file untouched this long is abandoned, whichever machine wrote it: writers
    /// append as they go, and no output takes a day. Without this, leftovers of machines that
    /// are gone (every pod has a new host name) would stay for ever.
    public static let abandonedAfter: TimeInterval = 24 * 3600

    /// This machine's name as the temporary names carry it (no `-`, `@` or `/`).
    public static let host: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "unknown" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let cleaned = String(name.map { $0.isLetter || $0.isNumber || $0 == "." ? $0 : "_" })
        return cleaned.isEmpty ? "unknown" : cleaned
    }()

    /// A fresh temporary path for writing `path`.
    public static func beside(_ path: String) -> String {
        let url = URL(fileURLWithPath: path)
        let suffix = ".tmp-\(getpid())@\(host)-\(UInt32.random(in: 0...UInt32.max))"
        // A name that fits the file system's 255 bytes may not with the suffix: shorten the
        // name, which is only there for a reader of the folder.
        var name = url.lastPathComponent
        while 1 + name.utf8.count + suffix.utf8.count > 255 && !name.isEmpty { name.removeLast() }
        return url.deletingLastPathComponent().appendingPathComponent("." + name + suffix).path
    }

    /// Gives `temporary` the owner, group and permission bits of the file it is about to
    /// replace, so that replacing a file (a nightly map, a checkpoint, a manifest) does not undo
    /// a `chown` or `chmod` of it. A new file keeps what the umask gave it. Only root may give a
    /// file away; for others the owner stays theirs, and the group where they may not set it.
    public static func adoptPermissions(of destination: String, for temporary: String) {
        var existing = stat()
        guard stat(destination, &existing) == 0 else { return }
        _ = chown(temporary, existing.st_uid, existing.st_gid)
        _ = chmod(temporary, existing.st_mode & 0o777)
    }

    /// Whether `name` (a file name) is a temporary file that nobody will finish: one of a
    /// process of this machine that no longer runs, or, on any machine and with any PID, one last
    /// modified more than `abandonedAfter` before `now`.
    /// Names from before the machine was recorded (`.NAME.tmp-PID-RANDOM`) count as this
    /// machine's.
    public static func isAbandoned(_ name: String, modified: Date? = nil, now: Date = Date()) -> Bool {
        guard name.hasPrefix("."), let marker = name.range(of: ".tmp-", options: .backwards) else { return false }
        let rest = name[marker.upperBound...]
        let pidText = rest.prefix { $0.isNumber }
        guard let pid = pid_t(pidText), pid > 0 else { return false }
        let afterPID = rest.dropFirst(pidText.count)
        guard afterPID.hasPrefix("@") || afterPID.hasPrefix("-") else { return false }
        if let modified, now.timeIntervalSince(modified) > abandonedAfter { return true }
        if afterPID.hasPrefix("@") {
            guard let end = afterPID.lastIndex(of: "-"), afterPID[afterPID.index(after: afterPID.startIndex)..<end] == host else { return false }
        }
        // A PID that runs may be a live writer's: in containers every run is PID 1, so two sharing
        // a host name cannot tell each other's files from an earlier run's; only age can.
        return !isRunning(pid)
    }

    /// Whether a process with this id exists on this machine (EPERM: it exists but belongs to
    /// someone else).
    public static func isRunning(_ pid: pid_t) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }
}
