import Raster

/// Open TIFF readers of one thread, kept so each file's header is parsed once. At most
/// `capacity` stay open (the least recently used is closed first), so a dataset of thousands of
/// scenes read by several threads stays far below the process's limit on open files.
public final class ReaderCache {
    public let capacity: Int
    var readers: [String: TIFFReader] = [:]
    /// Paths from least to most recently used.
    var recency: [String] = []

    public init(capacity: Int = 32) {
        self.capacity = max(capacity, 1)
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
        let reader = try TIFFReader(path: path)
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
