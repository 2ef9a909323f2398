import Raster

/// Open TIFF readers of one thread, kept so each file's header is parsed once. At most
/// `capacity` stay open (the least recently used is closed first), so a dataset of thousands of
/// scenes read by several threads stays far below the process's limit on open files.
///
/// Training draws windows at random, so a chunk decoded for one window is rarely under the next;
/// each reader may therefore keep more decoded chunks than a sequential pass needs
/// (`decodedChunkLimit`), all readers together within `DecodedChunkBudget.shared`. A scene
/// whose decoded samples fit (a 40000×200 strip of 8 bands of uint16 is 128 MB) is then decoded
/// once however its strips run, instead of whole strips per window.
public final class ReaderCache {
    /// Bytes of decoded chunks each training reader may keep, unless told otherwise.
    public static let defaultDecodedChunkLimit = 128 << 20

    public let capacity: Int
    public let decodedChunkLimit: Int
    var readers: [String: TIFFReader] = [:]
    /// Paths from least to most recently used.
    var recency: [String] = []

    public init(capacity: Int = 32, decodedChunkLimit: Int = ReaderCache.defaultDecodedChunkLimit) {
        self.capacity = max(capacity, 1)
        self.decodedChunkLimit = decodedChunkLimit
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
        let reader = try TIFFReader(path: path, decodedChunkLimit: decodedChunkLimit)
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
