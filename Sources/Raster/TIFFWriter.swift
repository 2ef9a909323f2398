import CTIFF
import Foundation

/// Streams a multi-band image into a TIFF, rows top to bottom.
///
/// The file is written under a temporary name in the destination's folder and renamed over the
/// destination by `finish()`, so a reader never sees a partial file. A writer dropped without
/// `finish()`, or one that failed, removes its temporary file.
public final class TIFFWriter {
    public enum Layout: Sendable, Equatable {
        case stripped(rowsPerStrip: Int)
        /// Tile sides must be positive multiples of 16, as TIFF requires.
        case tiled(width: Int, height: Int)
    }

    public enum Compression: Sendable, Equatable {
        case none
        /// Deflate with the predictor that suits the samples: horizontal differencing for
        /// integers, floating-point for floats.
        case deflate
    }

    /// Sample types the writer stores.
    public static let supportedSampleTypes: [SampleType] = [.uint8, .int8, .uint16, .int16, .uint32, .int32, .float32, .float64]

    public let path: String
    public let width: Int
    public let height: Int
    public let bands: Int
    public let sampleType: SampleType
    public let layout: Layout
    public private(set) var rowsWritten = 0

    private let temporaryPath: String
    private var tif: OpaquePointer?
    private let messages: UnsafeMutablePointer<ctiff_messages>
    private let bytesPerSample: Int
    private let chunkHeight: Int
    private let chunkWidth: Int
    /// Interleaved samples of the rows not yet written: one strip, or one row of tiles.
    private var pending: [UInt8]
    private var pendingRows = 0
    private var nextChunkRow = 0
    private var tileBuffer: [UInt8]
    private var finished = false

    /// Creates the temporary file and writes nothing else until rows arrive. Integer samples are
    /// rounded to nearest (halves away from zero) and clamped to the type's range (NaN stores 0).
    public init(
        path: String, width: Int, height: Int, bands: Int, sampleType: SampleType,
        layout: Layout = .tiled(width: 256, height: 256), compression: Compression = .deflate,
        geoReference: GeoReference? = nil, nodata: Double? = nil
    ) throws(RasterError) {
        func fail(_ reason: String) -> RasterError { RasterError(path: path, reason: reason) }
        guard width > 0, height > 0, width <= Int(UInt32.max), height <= Int(UInt32.max) else {
            throw fail("cannot write a \(width)×\(height) image")
        }
        guard bands > 0, bands <= Int(UInt16.max) else { throw fail("cannot write \(bands) bands") }
        guard Self.supportedSampleTypes.contains(sampleType) else {
            throw fail("cannot write \(sampleType.rawValue) samples")
        }
        switch layout {
        case .stripped(let rows):
            guard rows > 0 else { throw fail("rows per strip must be positive, not \(rows)") }
            chunkWidth = width
            chunkHeight = min(rows, height)
        case .tiled(let tileWidth, let tileHeight):
            guard tileWidth > 0, tileHeight > 0, tileWidth % 16 == 0, tileHeight % 16 == 0 else {
                throw fail("tile size \(tileWidth)×\(tileHeight) is not a positive multiple of 16")
            }
            chunkWidth = tileWidth
            chunkHeight = tileHeight
        }
        self.path = path
        self.width = width
        self.height = height
        self.bands = bands
        self.sampleType = sampleType
        self.layout = layout
        bytesPerSample = Self.bytes(of: sampleType)

        temporaryPath = TemporaryFileName.beside(path)

        let rowBytes = width * bands * bytesPerSample
        pending = [UInt8](repeating: 0, count: chunkHeight * rowBytes)
        let tiled = if case .tiled = layout { true } else { false }
        tileBuffer = [UInt8](repeating: 0, count: tiled ? chunkWidth * chunkHeight * bands * bytesPerSample : 0)

        messages = UnsafeMutablePointer<ctiff_messages>.allocate(capacity: 1)
        messages.initialize(to: ctiff_messages())
        messages.pointee.namesWriteErrno = 1
        // Classic TIFF cannot address past 4 GiB; choose BigTIFF when the raw samples could get
        // near that, as compression may not save enough.
        let rawBytes = Double(width) * Double(height) * Double(bands * bytesPerSample)
        let mode = rawBytes > 3.5 * 1024 * 1024 * 1024 ? "w8" : "w"
        guard let tif = ctiff_open(temporaryPath, mode, messages, 0) else {
            // Every stored property is set by now, so deinit runs and frees `messages`.
            let reason = Self.lastError(messages) ?? "cannot create"
            throw fail("cannot create \(temporaryPath): \(reason)")
        }
        self.tif = tif
        do {
            try configure(tif, compression: compression, geoReference: geoReference, nodata: nodata)
        } catch {
            abandon()
            throw error
        }
    }

    deinit {
        abandon()
        messages.deallocate()
    }

    /// Appends the next `buffer.height` rows; the buffer must be as wide as the image and have
    /// its bands.
    public func writeRows(_ buffer: RasterBuffer) throws(RasterError) {
        guard !finished, tif != nil else { throw fail("the writer is already finished or failed") }
        guard buffer.width == width, buffer.bands == bands else {
            throw fail("rows of \(buffer.bands) bands × \(buffer.width) pixels do not fit an image of \(bands) bands × \(width) pixels")
        }
        guard buffer.height <= height - rowsWritten else {
            throw fail("\(buffer.height) more rows would exceed the image height \(height) (\(rowsWritten) written)")
        }
        var row = 0
        while row < buffer.height {
            let rows = min(chunkHeight - pendingRows, buffer.height - row)
            store(buffer, rows: row..<(row + rows))
            pendingRows += rows
            row += rows
            rowsWritten += rows
            if pendingRows == chunkHeight || rowsWritten == height {
                do {
                    try flushPending()
                } catch {
                    abandon()
                    throw error
                }
            }
        }
    }

    /// Writes the directory, closes the file and renames it to `path`. Fails, removing the
    /// temporary file, unless every row was written.
    public func finish() throws(RasterError) {
        guard !finished, let tif else { throw fail("the writer is already finished or failed") }
        guard rowsWritten == height else {
            abandon()
            throw fail("only \(rowsWritten) of \(height) rows were written")
        }
        errno = 0  // so that only this call's failure is named
        let flushed = TIFFFlush(tif)
        TIFFClose(tif)
        self.tif = nil
        guard flushed == 1, messages.pointee.errorCount == 0 else {
            abandon()
            throw fail("cannot write \(temporaryPath): \(Self.lastError(messages) ?? "libtiff failed")")
        }
        TemporaryFileName.adoptPermissions(of: path, for: temporaryPath)
        guard rename(temporaryPath, path) == 0 else {
            let reason = String(cString: strerror(errno))
            abandon()
            throw fail("cannot rename \(temporaryPath) to the destination: \(reason)")
        }
        finished = true
    }

    // MARK: - Internals

    private func configure(_ tif: OpaquePointer, compression: Compression, geoReference: GeoReference?, nodata: Double?) throws(RasterError) {
        var ok = true
        ok = ok && ctiff_set_u32(tif, UInt32(TIFFTAG_IMAGEWIDTH), UInt32(width)) == 1
        ok = ok && ctiff_set_u32(tif, UInt32(TIFFTAG_IMAGELENGTH), UInt32(height)) == 1
        ok = ok && ctiff_set_u16(tif, UInt32(TIFFTAG_SAMPLESPERPIXEL), UInt16(bands)) == 1
        ok = ok && ctiff_set_u16(tif, UInt32(TIFFTAG_BITSPERSAMPLE), UInt16(bytesPerSample * 8)) == 1
        let format: Int32 = sampleType.isFloatingPoint ? SAMPLEFORMAT_IEEEFP
            : [.int8, .int16, .int32].contains(sampleType) ? SAMPLEFORMAT_INT : SAMPLEFORMAT_UINT
        ok = ok && ctiff_set_u16(tif, UInt32(TIFFTAG_SAMPLEFORMAT), UInt16(format)) == 1
        ok = ok && ctiff_set_u16(tif, UInt32(TIFFTAG_PLANARCONFIG), UInt16(PLANARCONFIG_CONTIG)) == 1
        ok = ok && ctiff_set_u16(tif, UInt32(TIFFTAG_PHOTOMETRIC), UInt16(PHOTOMETRIC_MINISBLACK)) == 1
        if bands > 1 {
            let unspecified = [UInt16](repeating: UInt16(EXTRASAMPLE_UNSPECIFIED), count: bands - 1)
            ok = ok && ctiff_set_extrasamples(tif, UInt16(bands - 1), unspecified) == 1
        }
        switch compression {
        case .none:
            ok = ok && ctiff_set_u16(tif, UInt32(TIFFTAG_COMPRESSION), UInt16(COMPRESSION_NONE)) == 1
        case .deflate:
            ok = ok && ctiff_set_u16(tif, UInt32(TIFFTAG_COMPRESSION), UInt16(COMPRESSION_ADOBE_DEFLATE)) == 1
            let predictor = sampleType.isFloatingPoint ? PREDICTOR_FLOATINGPOINT : PREDICTOR_HORIZONTAL
            ok = ok && ctiff_set_u16(tif, UInt32(TIFFTAG_PREDICTOR), UInt16(predictor)) == 1
        }
        if case .tiled = layout {
            ok = ok && ctiff_set_u32(tif, UInt32(TIFFTAG_TILEWIDTH), UInt32(chunkWidth)) == 1
            ok = ok && ctiff_set_u32(tif, UInt32(TIFFTAG_TILELENGTH), UInt32(chunkHeight)) == 1
        } else {
            ok = ok && ctiff_set_u32(tif, UInt32(TIFFTAG_ROWSPERSTRIP), UInt32(chunkHeight)) == 1
        }
        guard ok else { throw fail("cannot set up the TIFF header: \(Self.lastError(messages) ?? "libtiff refused a tag")") }

        if geoReference != nil || nodata != nil {
            guard ctiff_register_geotiff_tags(tif) == 1 else { throw fail("cannot register the GeoTIFF tags") }
        }
        if let geo = geoReference {
            for (tag, values) in [(CTIFF_TAG_MODELPIXELSCALE, geo.modelPixelScale), (CTIFF_TAG_MODELTIEPOINT, geo.modelTiepoint),
                                  (CTIFF_TAG_MODELTRANSFORMATION, geo.modelTransformation),
                                  (CTIFF_TAG_GEODOUBLEPARAMS, geo.geoDoubleParams), (CTIFF_TAG_RPCCOEFFICIENT, geo.rpcCoefficients)] {
                guard let values, !values.isEmpty else { continue }
                ok = ok && values.count <= Int(UInt16.max) && ctiff_set_double_array(tif, UInt32(tag), UInt32(values.count), values) == 1
            }
            if let keys = geo.geoKeyDirectory, !keys.isEmpty {
                ok = ok && keys.count <= Int(UInt16.max) && ctiff_set_u16_array(tif, UInt32(CTIFF_TAG_GEOKEYDIRECTORY), UInt32(keys.count), keys) == 1
            }
            if let text = geo.geoAsciiParams, !text.isEmpty {
                ok = ok && ctiff_set_string(tif, UInt32(CTIFF_TAG_GEOASCIIPARAMS), text) == 1
            }
        }
        if let nodata {
            ok = ok && ctiff_set_string(tif, UInt32(CTIFF_TAG_GDAL_NODATA), Self.gdalText(nodata)) == 1
        }
        guard ok else { throw fail("cannot write the georeferencing tags: \(Self.lastError(messages) ?? "libtiff refused a tag")") }
    }

    /// GDAL's spelling of a nodata value: integers without a fraction, "nan" for NaN.
    static func gdalText(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    /// Converts rows of the band-major buffer into the pending interleaved rows.
    private func store(_ buffer: RasterBuffer, rows: Range<Int>) {
        let bands = self.bands, width = self.width, size = bytesPerSample, type = sampleType
        let plane = buffer.planeSize
        let rowBytes = width * bands * size
        let firstPendingRow = pendingRows
        buffer.values.withUnsafeBufferPointer { source in
            pending.withUnsafeMutableBytes { target in
                guard let src = source.baseAddress, let dst = target.baseAddress else { return }
                for (k, row) in rows.enumerated() {
                    let out = dst + (firstPendingRow + k) * rowBytes
                    for band in 0..<bands {
                        let input = src + band * plane + row * width
                        Self.encode(type, input, count: width, into: out + band * size, stride: bands * size)
                    }
                }
            }
        }
    }

    @inline(__always)
    private static func encode(_ type: SampleType, _ input: UnsafePointer<Float>, count: Int, into out: UnsafeMutableRawPointer, stride: Int) {
        func integers<T: FixedWidthInteger>(_: T.Type) {
            let low = Float(T.min), high = Float(T.max)
            for i in 0..<count {
                let v = input[i]
                let stored: T = v.isNaN ? 0 : v <= low ? T.min : v >= high ? T.max : T(v.rounded())
                out.storeBytes(of: stored, toByteOffset: i * stride, as: T.self)
            }
        }
        switch type {
        case .uint8: integers(UInt8.self)
        case .int8: integers(Int8.self)
        case .uint16: integers(UInt16.self)
        case .int16: integers(Int16.self)
        case .uint32: integers(UInt32.self)
        case .int32: integers(Int32.self)
        case .float32:
            for i in 0..<count { out.storeBytes(of: input[i], toByteOffset: i * stride, as: Float.self) }
        case .float64:
            for i in 0..<count { out.storeBytes(of: Double(input[i]), toByteOffset: i * stride, as: Double.self) }
        case .uint64, .int64, .float16:
            break  // refused by init
        }
    }

    /// Writes the pending rows as one strip or one row of tiles (padded with zeros at the edges).
    private func flushPending() throws(RasterError) {
        guard let tif, pendingRows > 0 else { return }
        let rowBytes = width * bands * bytesPerSample
        if case .stripped = layout {
            let count = pendingRows * rowBytes
            errno = 0
            let written = pending.withUnsafeMutableBytes { raw in
                TIFFWriteEncodedStrip(tif, UInt32(nextChunkRow), raw.baseAddress, tmsize_t(count))
            }
            guard written >= 0 else { throw fail("cannot write strip \(nextChunkRow): \(Self.lastError(messages) ?? "libtiff failed")") }
        } else {
            let across = (width + chunkWidth - 1) / chunkWidth
            let pixelBytes = bands * bytesPerSample
            let tileRowBytes = chunkWidth * pixelBytes
            for column in 0..<across {
                let x0 = column * chunkWidth
                let copyBytes = (min(width, x0 + chunkWidth) - x0) * pixelBytes
                let written = pending.withUnsafeBytes { source in
                    tileBuffer.withUnsafeMutableBytes { tile -> tmsize_t in
                        guard let src = source.baseAddress, let dst = tile.baseAddress else { return -1 }
                        for r in 0..<chunkHeight {
                            let out = dst + r * tileRowBytes
                            if r < pendingRows {
                                out.copyMemory(from: src + r * rowBytes + x0 * pixelBytes, byteCount: copyBytes)
                                if copyBytes < tileRowBytes { (out + copyBytes).initializeMemory(as: UInt8.self, repeating: 0, count: tileRowBytes - copyBytes) }
                            } else {
                                out.initializeMemory(as: UInt8.self, repeating: 0, count: tileRowBytes)
                            }
                        }
                        let index = TIFFComputeTile(tif, UInt32(x0), UInt32(nextChunkRow * chunkHeight), 0, 0)
                        errno = 0
                        return TIFFWriteEncodedTile(tif, index, dst, tmsize_t(tile.count))
                    }
                }
                guard written >= 0 else { throw fail("cannot write a tile: \(Self.lastError(messages) ?? "libtiff failed")") }
            }
        }
        pendingRows = 0
        nextChunkRow += 1
    }

    /// Closes and removes the temporary file unless it was already renamed into place.
    private func abandon() {
        if let tif {
            TIFFClose(tif)
            self.tif = nil
        }
        if !finished { unlink(temporaryPath) }
    }

    private func fail(_ reason: String) -> RasterError { RasterError(path: path, reason: reason) }

    private static func bytes(of type: SampleType) -> Int {
        switch type {
        case .uint8, .int8: 1
        case .uint16, .int16, .float16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64: 8
        }
    }

    private static func lastError(_ messages: UnsafeMutablePointer<ctiff_messages>) -> String? {
        guard messages.pointee.errorCount > 0 else { return nil }
        let text = withUnsafeBytes(of: messages.pointee.lastError) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
