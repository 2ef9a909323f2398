import Foundation

/// segpipe's standard input, output and error as an unattended job meets them: perhaps closed by
/// the job's launcher, a full disk behind the log, or a reader that went away.
public enum StandardStreams {
    /// Points a closed descriptor 0, 1 or 2 at /dev/null, so that no file segpipe opens (an
    /// output's temporary file) takes its number and receives log lines; and ignores SIGPIPE, so
    /// that a reader that exits early costs the log, not the run; and ignores SIGXFSZ, so that a
    /// file-size limit (`ulimit -f`) fails the write that exceeds it, with a message, instead of
    /// killing segpipe with a core dump. Call first thing.
    public static func secure() {
        for descriptor in Int32(0)...2 where fcntl(descriptor, F_GETFD) == -1 && errno == EBADF {
            // open(2) returns the lowest free descriptor: this one, as the lower ones are open.
            let opened = open("/dev/null", O_RDWR)
            if opened >= 0 && opened != descriptor {
                dup2(opened, descriptor)
                close(opened)
            }
        }
        signal(SIGPIPE, SIG_IGN)
        signal(SIGXFSZ, SIG_IGN)
    }

    /// Writes `text` whole, unbuffered, to `descriptor`. Returns the errno of a failure (a full
    /// disk, a closed pipe), or nil; a log drops the text: the log is not worth the run.
    @discardableResult
    public static func write(_ text: String, to descriptor: Int32) -> Int32? {
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBytes { buffer -> Int32? in
            guard let base = buffer.baseAddress else { return nil }
            var offset = 0
            while offset < buffer.count {
                let written = Foundation.write(descriptor, base + offset, buffer.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    return written < 0 ? errno : EIO
                }
            }
            return nil
        }
    }
}
