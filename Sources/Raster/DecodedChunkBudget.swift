import Synchronization

/// Bytes of decoded strips and tiles that all the process's `TIFFReader`s may keep between
/// reads, beyond the one chunk each reader decodes into. Readers draw from it as they keep a
/// chunk and give back when they drop one or close, so many open readers (one cache per loader
/// thread, 32 files each) cannot together hold more than this.
public final class DecodedChunkBudget: Sendable {
    /// The budget every reader draws from unless given another: the sequential passes
    /// (inspect, statistics, masks, prediction), one reader at a time, so one strip of the
    /// largest size a reader accepts (`TIFFPageLayout.maximumChunkBytes`) is still kept, and a
    /// pass down a one-strip image decodes it once. Training's readers have budgets of their own.
    public static let shared = DecodedChunkBudget(bytes: 1 << 30)

    public let capacity: Int
    private let available: Mutex<Int>

    public init(bytes: Int) {
        capacity = max(bytes, 0)
        available = Mutex(max(bytes, 0))
    }

    /// Takes `bytes` if that many are left.
    func reserve(_ bytes: Int) -> Bool {
        available.withLock { left in
            guard bytes <= left else { return false }
            left -= bytes
            return true
        }
    }

    func release(_ bytes: Int) {
        available.withLock { $0 += bytes }
    }

    /// Bytes not drawn now.
    public var availableBytes: Int { available.withLock { $0 } }
}
