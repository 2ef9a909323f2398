import Raster

/// Open TIFF readers of one thread, kept so each file's header is parsed once. At most
/// `capacity` stay open (the least recently used is closed first), so a dataset of thousands of
/// scenes read by several threads stays far below the process's limit on open files.
///
/// Each reader keeps up to `decodedChunkLimit` bytes of the strips and tiles it decoded, drawn
/// from `budget` (see `DecodedChunkMemo`). Training's loader threads draw windows at random and
/// share one budget, so that a scene whose decoded samples fit is decoded once, whatever its
/// strips look like, instead of whole strips per window. Validation reads rows of windows in
/// order and has a budget of its own, which the loaders, first to fill theirs, cannot take.
public final class ReaderCache {
    /// Bytes of decoded chunks each reader may keep, unless told otherwise: enough for the
    /// strips under a row of windows across a 20000-pixel-wide 8-band uint16 scene.
    public static let defaultDecodedChunkLimit = 64 << 20

    public let capacity: Int
    public let decodedChunkLimit: Int
    public let budget: DecodedChunkBudget
    var readers: [String: TIFFReader] = [:]
    /// Paths from least to most recently used.
    var recency: [String] = []

    public init(capacity: Int = 32, decodedChunkLimit: Int = ReaderCache.defaultDecodedChunkLimit,
                budget: DecodedChunkBudget = .shared) {
        self.capacity = max(capacity, 1)
        self.decodedChunkLimit = decodedChunkLimit
        self.budget = budget
    }

    /// A capacity for each of `caches` caches open at once (one per loader thread, and
    /// validation's), so that together they stay within the limit on open files with room to
    /// spare: at most 32, at least 1.
    public static func capacity(sharedBy caches: Int, openFileLimit: Int? = OpenFileLimit.current) -> Int {
        guard let limit = openFileLimit else { return 32 }
        return min(32, max(1, (limit - OpenFileLimit.reserve) / max(caches, 1)))
    }

    /// The open reader of `path`, opening it on first use.
    public func reader(_ path: String) throws -> TIFFReader {
        if let open = readers[path] {
            if recency.last != path, let index = recency.firstIndex(of: path) {
                recency.remove(at: index)
                recency.append(path)
            }
            return open
        }
        let reader = try TIFFReader(path: path, decodedChunkLimit: decodedChunkLimit, budget: budget)
        if readers.count >= capacity, !recency.isEmpty {
            readers[recency.removeFirst()] = nil
        }
        readers[path] = reader
        recency.append(path)
        return reader
    }

    /// Number of readers open now.
    public var openCount: Int { readers.count }
}
