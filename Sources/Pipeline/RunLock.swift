import Foundation
import Raster

/// Another run holds the lock; segpipe exits with status 75 (EX_TEMPFAIL).
public struct RunLockBusy: Error, CustomStringConvertible, Sendable {
    public var path: String
    /// Process ids of the holders, as far as they could be read.
    public var holders: [Int32]
    /// What the holder is doing, as in "is already writing to this folder".
    public var activity = "writing to this folder"

    public init(path: String, holders: [Int32]) {
        self.path = path
        self.holders = holders
    }

    public var description: String {
        // Shared holders (a segpipe predict, the shards of a run) record no PID.
        let who = holders.isEmpty ? "another segpipe" : "another segpipe (PID \(holders.map(String.init).joined(separator: ", ")))"
        return "\(path): \(who) is already \(activity)"
    }
}

/// An advisory `flock` on a file in the output folder, held until the value is dropped.
///
/// The kernel releases a `flock` when its holder exits, however it exits, so a crashed or killed
/// run never leaves a stale lock. The lock file itself is never removed (removing it would let
/// two runs lock two different files of the same name); it holds the PID of its exclusive holder.
public final class RunLock {
    public let path: String
    private let descriptor: Int32

    public enum Mode: Sendable {
        /// One holder; its PID is written into the file.
        case exclusive
        /// Many holders at once (the shards of one job), none exclusive.
        case shared
    }

    /// Takes the lock without waiting; throws `RunLockBusy` when it is held.
    public init(path: String, mode: Mode) throws {
        self.path = path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw PipelineError(path: path, reason: "cannot open the lock file (\(String(cString: strerror(errno))))")
        }
        while flock(fd, (mode == .exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            let failure = errno
            close(fd)
            guard failure == EWOULDBLOCK else {
                throw PipelineError(path: path, reason: "cannot lock (\(String(cString: strerror(failure))))")
            }
            throw RunLockBusy(path: path, holders: Self.recordedHolder(path).map { [$0] } ?? [])
        }
        descriptor = fd
        if mode == .exclusive {
            let text = "\(getpid())\n"
            _ = ftruncate(fd, 0)
            _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
        }
    }

    /// The PID written into a lock file, when that process still exists.
    public static func recordedHolder(_ path: String) -> Int32? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0,
              TemporaryFileName.isRunning(pid)
        else { return nil }
        return pid
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
