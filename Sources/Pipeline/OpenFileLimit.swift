import Foundation

/// The process's limit on open files, which a training run's reader caches share.
public enum OpenFileLimit {
    /// Files kept free of the caches for everything else: outputs, logs, the model, the
    /// threads' own descriptors (libdispatch traps when it cannot get one).
    static let reserve = 48

    /// Raises the soft limit to the hard one, as far as the system allows: a login's soft limit
    /// (often 1024, or 64 in some batch systems) is a default, not a choice. Call first thing.
    public static func raise() {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    }

    /// The soft limit now, or nil when it cannot be read or is unlimited.
    public static var current: Int? {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return nil }
        return Int(clamping: limit.rlim_cur)
    }
}
