import Raster

/// Open TIFF readers of one thread, kept so each file's header is parsed once.
public final class ReaderCache {
    var readers: [String: TIFFReader] = [:]

    public init() {}

    /// The open reader of `path`, opening it on first use.
    public func reader(_ path: String) throws -> TIFFReader {
        if let open = readers[path] { return open }
        let reader = try TIFFReader(path: path)
        readers[path] = reader
        return reader
    }
}
