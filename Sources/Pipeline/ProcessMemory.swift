import Foundation

/// Memory figures of the running process, as the kernel reports them.
public enum ProcessMemory {
    /// Peak resident set size ("high-water mark") in bytes, from /proc/self/status `VmHWM`;
    /// nil where /proc is unavailable (not Linux).
    public static func peakResidentBytes() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            // "VmHWM:	  123456 kB"
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 3, fields[2] == "kB", let kilobytes = Int(fields[1]) else { return nil }
            return kilobytes * 1024
        }
        return nil
    }
}
