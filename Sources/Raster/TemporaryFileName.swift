import Foundation

/// Names of files written under a temporary name and renamed into place: `.NAME.tmp-PID@HOST-RANDOM`
/// beside the destination. A leftover can be traced to its process and machine, so a sweep
/// removes only those of dead processes on this machine, never a live write of another machine
/// sharing the folder (shards on a shared volume).
public enum TemporaryFileName {
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
        return url.deletingLastPathComponent().appendingPathComponent(
            ".\(url.lastPathComponent).tmp-\(getpid())@\(host)-\(UInt32.random(in: 0...UInt32.max))").path
    }

    /// Whether `name` (a file name) is a temporary file of a process of this machine that no
    /// longer runs. Names from before the machine was recorded (`.NAME.tmp-PID-RANDOM`) count as
    /// this machine's.
    public static func isAbandoned(_ name: String) -> Bool {
        guard name.hasPrefix("."), let marker = name.range(of: ".tmp-", options: .backwards) else { return false }
        let rest = name[marker.upperBound...]
        let pidText = rest.prefix { $0.isNumber }
        guard let pid = pid_t(pidText), pid > 0 else { return false }
        let afterPID = rest.dropFirst(pidText.count)
        if afterPID.hasPrefix("@") {
            guard let end = afterPID.lastIndex(of: "-"), afterPID[afterPID.index(after: afterPID.startIndex)..<end] == host else { return false }
        } else if !afterPID.hasPrefix("-") {
            return false
        }
        return !isRunning(pid)
    }

    /// Whether a process with this id exists on this machine (EPERM: it exists but belongs to
    /// someone else).
    public static func isRunning(_ pid: pid_t) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }
}
