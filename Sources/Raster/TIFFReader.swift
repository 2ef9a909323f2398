import CTIFF
import Foundation

/// An open TIFF file: its metadata, georeferencing and any window of any page as Float32.
///
/// Only the strips or tiles that intersect a window are decoded. The reader keeps the last ones
/// it decoded, up to a limit of its own and within a budget shared by all readers
/// (`DecodedChunkMemo`), so memory follows the window and that limit rather than the image,
/// and neighbouring windows decode each chunk once. Every strip or tile is
/// checked against the file's size before it is read, so a forged header fails fast instead of
/// driving a large allocation. Not safe to share between tasks: the handle has a current page.
public final class TIFFReader {
    /// Palette images: the colour table's 16-bit red, green and blue entries.
    public struct Colormap: Sendable, Equatable {
        public var red: [UInt16]
        public var green: [UInt16]
        public var blue: [UInt16]
    }

    /// More IFDs than this are not counted: a chain that long is corrupt or hostile.
    static let maximumPages = 65_536
    /// The largest single allocation libtiff itself may make for this file.
    static let libtiffAllocationLimit = 512 << 20

    public let path: String
    /// The first page's metadata.
    public let info: RasterInfo
    public let geoReference: GeoReference
    public let colormap: Colormap?

    /// The first page's strip (full width × rows per strip) or tile size: windows aligned to it
    /// decode each block once.
    public var blockSize: (width: Int, height: Int) { (layout.chunkWidth, layout.chunkHeight) }

    private let tif: OpaquePointer
    private let messages: UnsafeMutablePointer<ctiff_messages>
    private let fileSize: Int
    private var currentPage: Int?
    private var layout: TIFFPageLayout
    /// Without it, a pass down a file whose strips are much taller than its windows (one deflate
    /// strip for the whole image) would decode the same strip for every window, and a row of
    /// windows across 1-row strips every strip once per window: costs quadratic in the image.
    private let decoded: DecodedChunkMemo

    /// Bytes of decoded chunks a reader keeps beyond the one it decodes into, unless told
    /// otherwise: the chunks under a window of a wide scene's 1-row strips, or a row of tiles, so
    /// that sequential passes decode each chunk once.
    public static let defaultDecodedChunkLimit = 32 << 20

    /// Opens `path`. The reader keeps up to `decodedChunkLimit` bytes of decoded strips or tiles
    /// beyond one, drawn from `budget`.
    public init(path: String, decodedChunkLimit: Int = TIFFReader.defaultDecodedChunkLimit,
                budget: DecodedChunkBudget = .shared) throws(RasterError) {
        self.path = path
        decoded = DecodedChunkMemo(limit: decodedChunkLimit, budget: budget)
        try RegularFile.check(path)
        let size: Int
        do {
            // A symbolic link (a staging folder of links is common) is read as what it points to.
            let attributes = try FileManager.default.attributesOfItem(atPath: URL(fileURLWithPath: path).resolvingSymlinksInPath().path)
            guard (attributes[.type] as? FileAttributeType) == .typeRegular,
                  let bytes = (attributes[.size] as? NSNumber)?.intValue else {
                throw RasterError.cannotOpen(path, "not a regular file")
            }
            size = bytes
        } catch let error as RasterError {
            throw error
        } catch {
            throw RasterError.cannotOpen(path, "cannot open: \(error.localizedDescription)")
        }
        fileSize = size

        let messages = UnsafeMutablePointer<ctiff_messages>.allocate(capacity: 1)
        messages.initialize(to: ctiff_messages())
        // 'O' loads strip and tile offsets on demand, so a forged tile count costs nothing; 'm'
        // reads with read(2) instead of mapping the file, so resident memory is what segpipe
        // holds rather than every page of the file it has touched.
        guard let tif = ctiff_open(path, "rOm", messages, Self.libtiffAllocationLimit) else {
            let reason = Self.lastError(messages, path: path) ?? "cannot open"
            messages.deallocate()
            throw RasterError(path: path, reason: "not a readable TIFF: \(reason)")
        }
        self.tif = tif
        self.messages = messages

        do {
            layout = try TIFFPageLayout(tif: tif, path: path)
        } catch {
            TIFFClose(tif)
            messages.deallocate()
            throw error
        }
        currentPage = 0
        let pages = max(1, min(Int(TIFFNumberOfDirectories(tif)), Self.maximumPages))
        // Counting pages walks the chain; make sure page 0 is still the one selected.
        if TIFFCurrentDirectory(tif) != 0 { currentPage = nil }

        let geo = Self.readGeoReference(tif)
        geoReference = geo
        let nodata: Double?
        do {
            nodata = try Self.parseNodata(Self.readString(tif, tag: UInt32(CTIFF_TAG_GDAL_NODATA)), path: path)
        } catch {
            TIFFClose(tif)
            messages.deallocate()
            throw error
        }
        let isPalette = layout.photometric == UInt16(PHOTOMETRIC_PALETTE)
        colormap = isPalette ? Self.readColormap(tif, bitsPerSample: layout.bitsPerSample) : nil
        info = RasterInfo(
            path: path, format: .tiff, width: layout.width, height: layout.height,
            bands: layout.samplesPerPixel, sampleType: layout.decoder.sampleType,
            bitsPerSample: layout.bitsPerSample, planar: layout.planar, tiled: layout.tiled,
            compression: TIFFPageLayout.compressionName(layout.compression),
            bigTIFF: TIFFIsBigTIFF(tif) != 0, pages: pages, nodata: nodata,
            georeferenced: geo.isGeoreferenced, groundControlPoints: geo.groundControlPoints,
            hasRPCCoefficients: geo.hasRPCCoefficients, isPalette: isPalette)
    }

    deinit {
        TIFFClose(tif)
        messages.deallocate()
    }

    /// Decoded chunks held now.
    var decodedChunkCount: Int { decoded.count }
    /// Chunks decoded since the reader opened.
    var chunksDecoded: Int { decoded.decodes }

    /// Reads a window of a page as Float32, band-major: the stored sample values unscaled
    /// (palette images give indices, MinIsWhite is not inverted, JPEG YCbCr comes out as RGB).
    public func readWindow(_ window: PixelWindow, page: Int = 0) throws(RasterError) -> RasterBuffer {
        let (bands, values) = try readSamples(window, page: page, zero: Float(0)) { decoder, row, first, stride, count, output in
            decoder.decode(row: row, first: first, stride: stride, count: count, into: output)
        }
        return RasterBuffer(bands: bands, width: window.width, height: window.height, values: values)
    }

    /// Reads a window as `readWindow` does, with every sample that holds the file's nodata value
    /// made NaN. The stored value is compared, as GDAL compares it: a Float32 copy of a 32- or
    /// 64-bit integer or of a double would also take the nodata value's neighbours for it
    /// (16777216 for 16777217).
    public func readWindowMarkingNodata(_ window: PixelWindow, page: Int = 0) throws(RasterError) -> RasterBuffer {
        guard let nodata = info.nodata, !nodata.isNaN else { return try readWindow(window, page: page) }
        switch info.sampleType {
        case .uint32, .int32, .uint64, .int64, .float64:
            // Decoded once, exactly, and rounded to Float32 here.
            let exact = try readWindowExactly(window, page: page)
            return RasterBuffer(bands: exact.bands, width: window.width, height: window.height,
                                values: exact.values.map { $0 == nodata ? .nan : Float($0) })
        case .uint8, .int8, .uint16, .int16, .float16, .float32:
            var buffer = try readWindow(window, page: page)
            let rounded = Float(nodata)
            for i in buffer.values.indices where buffer.values[i] == rounded { buffer.values[i] = .nan }
            return buffer
        }
    }

    /// Reads a window of a page as Float64, band-major, as `readWindow` does: the stored values of
    /// 32-bit integers and 64-bit floats, which Float32 rounds or overflows, come out exact.
    public func readWindowExactly(_ window: PixelWindow, page: Int = 0) throws(RasterError) -> (bands: Int, values: [Double]) {
        try readSamples(window, page: page, zero: Double(0)) { decoder, row, first, stride, count, output in
            decoder.decodeExactly(row: row, first: first, stride: stride, count: count, into: output)
        }
    }

    /// Decodes the chunks under `window` of the page's bands and hands each row's part of each
    /// band to `decode`.
    private func readSamples<Sample>(
        _ window: PixelWindow, page: Int, zero: Sample,
        decode: (TIFFSampleDecoder, UnsafeRawPointer, Int, Int, Int, UnsafeMutablePointer<Sample>) -> Void
    ) throws(RasterError) -> (bands: Int, values: [Sample]) {
        // Only errors from this read may explain its failure.
        messages.pointee.errorCount = 0
        let layout = try select(page: page)
        guard window.fits(width: layout.width, height: layout.height) else {
            throw fail("window \(window) lies outside the \(layout.width)×\(layout.height) page \(page)")
        }
        guard TIFFIsCODECConfigured(layout.compression) != 0 else {
            let name = TIFFPageLayout.compressionName(layout.compression)
            let named = name == "\(layout.compression)" ? name : "\(name) (\(layout.compression))"
            throw fail("compression \(named) is not supported by this libtiff")
        }

        guard layout.chunkBytes <= TIFFPageLayout.maximumChunkBytes else {
            throw fail("one \(layout.tiled ? "tile" : "strip") decodes to \(layout.chunkBytes) bytes, over the \(TIFFPageLayout.maximumChunkBytes >> 20) MiB this reader holds at once; rewrite the file \(layout.tiled ? "with smaller tiles" : "tiled")")
        }

        let firstRow = window.y / layout.chunkHeight
        let lastRow = (window.y + window.height - 1) / layout.chunkHeight
        let firstColumn = window.x / layout.chunkWidth
        let lastColumn = (window.x + window.width - 1) / layout.chunkWidth
        // Every chunk is checked before anything is allocated, so a file that cannot back its
        // header fails without touching memory.
        for plane in 0..<layout.planes {
            for row in firstRow...lastRow {
                for column in firstColumn...lastColumn {
                    try checkChunk(layout, index: layout.chunkIndex(plane: plane, row: row, column: column), row: row)
                }
            }
        }

        var values = [Sample](repeating: zero, count: layout.samplesPerPixel * window.pixelCount)
        defer { decoded.endRead() }
        try values.withUnsafeMutableBufferPointer { (output) throws(RasterError) in
            guard let out = output.baseAddress else { return }
            for plane in 0..<layout.planes {
                for row in firstRow...lastRow {
                    for column in firstColumn...lastColumn {
                        let index = layout.chunkIndex(plane: plane, row: row, column: column)
                        let chunk = try decoded.chunk(.init(page: page, index: index), bytes: layout.chunkBytes) { (buffer) throws(RasterError) in
                            let bytes = layout.tiled
                                ? TIFFReadEncodedTile(tif, UInt32(index), buffer, tmsize_t(layout.chunkBytes))
                                : TIFFReadEncodedStrip(tif, UInt32(index), buffer, tmsize_t(layout.chunkBytes))
                            let rowsStored = layout.rowsStored(inChunkRow: row)
                            guard bytes >= 0 else {
                                throw fail("cannot decode \(layout.tiled ? "tile" : "strip") \(index): \(libtiffError() ?? "libtiff failed")")
                            }
                            guard bytes >= rowsStored * layout.chunkRowBytes else {
                                throw fail("\(layout.tiled ? "tile" : "strip") \(index) decoded to \(bytes) bytes, fewer than its \(rowsStored * layout.chunkRowBytes)")
                            }
                        }
                        copy(layout, chunk: chunk, plane: plane, chunkRow: row,
                             chunkColumn: column, window: window, into: out, decode: decode)
                    }
                }
            }
        }
        return (layout.samplesPerPixel, values)
    }

    /// Converts the part of one decoded chunk that falls inside the window.
    private func copy<Sample>(
        _ layout: TIFFPageLayout, chunk: UnsafeRawPointer, plane: Int, chunkRow: Int, chunkColumn: Int,
        window: PixelWindow, into out: UnsafeMutablePointer<Sample>,
        decode: (TIFFSampleDecoder, UnsafeRawPointer, Int, Int, Int, UnsafeMutablePointer<Sample>) -> Void
    ) {
        let chunkX = chunkColumn * layout.chunkWidth
        let chunkY = chunkRow * layout.chunkHeight
        let x0 = max(window.x, chunkX)
        let x1 = min(window.x + window.width, chunkX + layout.chunkWidth, layout.width)
        let y0 = max(window.y, chunkY)
        let y1 = min(window.y + window.height, chunkY + layout.chunkHeight, layout.height)
        guard x0 < x1, y0 < y1 else { return }
        let planeSize = window.pixelCount
        let separate = layout.planar == .separate
        let stride = separate ? 1 : layout.samplesPerPixel
        let bands = separate ? plane..<(plane + 1) : 0..<layout.samplesPerPixel
        for y in y0..<y1 {
            let source = chunk + (y - chunkY) * layout.chunkRowBytes
            let outputRow = (y - window.y) * window.width + (x0 - window.x)
            for band in bands {
                let first = (x0 - chunkX) * stride + (separate ? 0 : band)
                decode(layout.decoder, source, first, stride, x1 - x0, out + band * planeSize + outputRow)
            }
        }
    }

    /// Refuses a strip or tile whose stored bytes cannot exist in the file or cannot decode to
    /// the size the header claims.
    private func checkChunk(_ layout: TIFFPageLayout, index: Int, row: Int) throws(RasterError) {
        let noun = layout.tiled ? "tile" : "strip"
        var error: Int32 = 0
        let offset = TIFFGetStrileOffsetWithErr(tif, UInt32(index), &error)
        let byteCount = TIFFGetStrileByteCountWithErr(tif, UInt32(index), &error)
        guard error == 0 else {
            throw fail("cannot read the offset of \(noun) \(index): \(libtiffError() ?? "corrupt offsets")")
        }
        guard byteCount > 0, offset > 0 else {
            throw fail("\(noun) \(index) has no data (offset \(offset), byte count \(byteCount))")
        }
        // Nothing can be stored inside the 8 or 16-byte file header.
        guard offset >= (info.bigTIFF ? 16 : 8) else { throw fail("\(noun) \(index) starts inside the file header (offset \(offset))") }
        guard offset < UInt64(fileSize), byteCount <= UInt64(fileSize) - offset else {
            throw fail("\(noun) \(index) (\(byteCount) bytes at offset \(offset)) lies past the end of the \(fileSize)-byte file")
        }
        let needed = layout.rowsStored(inChunkRow: row) * layout.chunkRowBytes
        if let expansion = layout.maximumExpansion, UInt64(needed) > byteCount * UInt64(expansion) + 1024 {
            let codec = TIFFPageLayout.compressionName(layout.compression)
            throw fail("\(noun) \(index) holds \(byteCount) bytes, too few for the \(needed) bytes of samples it must decode to (compression \(codec))")
        }
    }

    /// Selects a page and returns its layout; the handle's page is forgotten if libtiff fails
    /// half-way, so the next call selects again.
    private func select(page: Int) throws(RasterError) -> TIFFPageLayout {
        if page == currentPage { return layout }
        guard page >= 0, page < info.pages else {
            throw fail("page \(page) does not exist (the file has \(info.pages))")
        }
        currentPage = nil
        guard TIFFSetDirectory(tif, tdir_t(page)) == 1 else {
            throw fail("cannot read page \(page): \(libtiffError() ?? "corrupt directory")")
        }
        layout = try TIFFPageLayout(tif: tif, path: path)
        currentPage = page
        return layout
    }

    private func fail(_ reason: String) -> RasterError { RasterError(path: path, reason: reason) }

    private func libtiffError() -> String? { Self.lastError(messages, path: path) }

    /// libtiff's last captured error on one line, without the file name it often starts with.
    private static func lastError(_ messages: UnsafeMutablePointer<ctiff_messages>, path: String) -> String? {
        guard messages.pointee.errorCount > 0 else { return nil }
        var text = withUnsafeBytes(of: messages.pointee.lastError) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if text.hasPrefix(path + ": ") { text.removeFirst(path.count + 2) }
        text = text.replacingOccurrences(of: path, with: "file")
        return text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    // MARK: - Tags

    private static func readGeoReference(_ tif: OpaquePointer) -> GeoReference {
        GeoReference(
            modelPixelScale: readNumbers(tif, tag: UInt32(CTIFF_TAG_MODELPIXELSCALE)),
            modelTiepoint: readNumbers(tif, tag: UInt32(CTIFF_TAG_MODELTIEPOINT)),
            modelTransformation: readNumbers(tif, tag: UInt32(CTIFF_TAG_MODELTRANSFORMATION)),
            geoKeyDirectory: readNumbers(tif, tag: UInt32(CTIFF_TAG_GEOKEYDIRECTORY)).map { keys in
                keys.map { UInt16(exactly: $0) ?? 0 }
            },
            geoDoubleParams: readNumbers(tif, tag: UInt32(CTIFF_TAG_GEODOUBLEPARAMS)),
            geoAsciiParams: readString(tif, tag: UInt32(CTIFF_TAG_GEOASCIIPARAMS)),
            rpcCoefficients: readNumbers(tif, tag: UInt32(CTIFF_TAG_RPCCOEFFICIENT)))
    }

    /// A numeric tag of any stored integer or floating-point type, as Doubles.
    private static func readNumbers(_ tif: OpaquePointer, tag: UInt32) -> [Double]? {
        var type = TIFF_NOTYPE
        var count: UInt32 = 0
        var data: UnsafeRawPointer?
        guard ctiff_get_raw(tif, tag, &type, &count, &data) == 1, let data, count > 0 else { return nil }
        let n = Int(count)
        func load<T>(_: T.Type, _ convert: (T) -> Double) -> [Double] {
            (0..<n).map { convert(data.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)) }
        }
        switch type {
        case TIFF_DOUBLE: return load(Double.self) { $0 }
        case TIFF_FLOAT: return load(Float.self) { Double($0) }
        case TIFF_BYTE: return load(UInt8.self) { Double($0) }
        case TIFF_SBYTE: return load(Int8.self) { Double($0) }
        case TIFF_SHORT: return load(UInt16.self) { Double($0) }
        case TIFF_SSHORT: return load(Int16.self) { Double($0) }
        case TIFF_LONG, TIFF_IFD: return load(UInt32.self) { Double($0) }
        case TIFF_SLONG: return load(Int32.self) { Double($0) }
        case TIFF_LONG8, TIFF_IFD8: return load(UInt64.self) { Double($0) }
        case TIFF_SLONG8: return load(Int64.self) { Double($0) }
        default: return nil
        }
    }

    /// The GDAL_NODATA tag's value. Text that is not a number is refused rather than ignored:
    /// ignoring it would quietly treat the file's fill pixels as data.
    static func parseNodata(_ text: String?, path: String) throws(RasterError) -> Double? {
        guard let text else { return nil }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { return nil }
        guard let value = Double(trimmed.lowercased()) else {
            throw RasterError(path: path, reason: "its GDAL_NODATA tag '\(trimmed.prefix(40))' is not a number")
        }
        return value
    }

    /// An ASCII tag without its terminating NULs.
    private static func readString(_ tif: OpaquePointer, tag: UInt32) -> String? {
        var type = TIFF_NOTYPE
        var count: UInt32 = 0
        var data: UnsafeRawPointer?
        guard ctiff_get_raw(tif, tag, &type, &count, &data) == 1, let data, type == TIFF_ASCII else { return nil }
        let bytes = UnsafeRawBufferPointer(start: data, count: Int(count))
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    private static func readColormap(_ tif: OpaquePointer, bitsPerSample: Int) -> Colormap? {
        guard bitsPerSample <= 16 else { return nil }
        var red: UnsafeMutablePointer<UInt16>?
        var green: UnsafeMutablePointer<UInt16>?
        var blue: UnsafeMutablePointer<UInt16>?
        guard ctiff_get_colormap(tif, &red, &green, &blue) == 1, let red, let green, let blue else { return nil }
        let n = 1 << bitsPerSample
        return Colormap(
            red: Array(UnsafeBufferPointer(start: red, count: n)),
            green: Array(UnsafeBufferPointer(start: green, count: n)),
            blue: Array(UnsafeBufferPointer(start: blue, count: n)))
    }
}
