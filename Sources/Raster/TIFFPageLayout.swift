import CTIFF

/// How the selected page (IFD) of an open TIFF stores its samples: read from its tags and checked
/// for coherence before any pixel is decoded. A strip is treated as a tile as wide as the image.
struct TIFFPageLayout: Sendable {
    /// A single strip or tile may decode to at most this many bytes: a window needs whole
    /// chunks in memory, so larger ones are refused when pixels are read (the header still is).
    static let maximumChunkBytes = 1 << 30

    var width: Int
    var height: Int
    var samplesPerPixel: Int
    var bitsPerSample: Int
    var decoder: TIFFSampleDecoder
    var planar: PlanarLayout
    var tiled: Bool
    var compression: UInt16
    var photometric: UInt16
    /// Tile size, or (image width, rows per strip) for strips.
    var chunkWidth: Int
    var chunkHeight: Int
    var chunksAcross: Int
    var chunksDown: Int
    /// Bytes of one decoded row of a chunk (one plane's samples when planes are separate).
    var chunkRowBytes: Int
    /// Bytes a full decoded chunk occupies, as libtiff computes it.
    var chunkBytes: Int

    var planes: Int { planar == .separate ? samplesPerPixel : 1 }

    /// Reads the current directory's layout. For JPEG-compressed YCbCr it also asks libtiff to
    /// convert to RGB, which must be redone whenever the directory changes.
    init(tif: OpaquePointer, path: String) throws(RasterError) {
        func fail(_ reason: String) -> RasterError { RasterError(path: path, reason: reason) }
        var u32: UInt32 = 0
        var u16: UInt16 = 0

        guard ctiff_get_u32(tif, UInt32(TIFFTAG_IMAGEWIDTH), &u32) == 1, u32 > 0 else {
            throw fail("missing or zero ImageWidth")
        }
        width = Int(u32)
        guard ctiff_get_u32(tif, UInt32(TIFFTAG_IMAGELENGTH), &u32) == 1, u32 > 0 else {
            throw fail("missing or zero ImageLength")
        }
        height = Int(u32)
        _ = ctiff_get_u16_defaulted(tif, UInt32(TIFFTAG_SAMPLESPERPIXEL), &u16)
        samplesPerPixel = Int(u16)
        guard samplesPerPixel > 0 else { throw fail("SamplesPerPixel is 0") }
        _ = ctiff_get_u16_defaulted(tif, UInt32(TIFFTAG_BITSPERSAMPLE), &u16)
        bitsPerSample = Int(u16)
        var sampleFormat: UInt16 = 1
        _ = ctiff_get_u16_defaulted(tif, UInt32(TIFFTAG_SAMPLEFORMAT), &sampleFormat)
        if sampleFormat == 5 || sampleFormat == 6 {
            throw fail("complex samples (SampleFormat \(sampleFormat)) are not supported")
        }
        guard let decoder = TIFFSampleDecoder(sampleFormat: sampleFormat, bitsPerSample: bitsPerSample) else {
            let kind = sampleFormat == 3 ? "floating-point" : sampleFormat == 2 ? "signed integer" : "integer"
            throw fail("\(bitsPerSample)-bit \(kind) samples are not supported (SampleFormat \(sampleFormat))")
        }
        self.decoder = decoder
        _ = ctiff_get_u16_defaulted(tif, UInt32(TIFFTAG_PLANARCONFIG), &u16)
        planar = u16 == UInt16(PLANARCONFIG_SEPARATE) && samplesPerPixel > 1 ? .separate : .contiguous
        _ = ctiff_get_u16_defaulted(tif, UInt32(TIFFTAG_COMPRESSION), &u16)
        compression = u16
        photometric = UInt16(PHOTOMETRIC_MINISBLACK)
        if ctiff_get_u16(tif, UInt32(TIFFTAG_PHOTOMETRIC), &u16) == 1 { photometric = u16 }

        if compression == UInt16(COMPRESSION_SGILOG) || compression == UInt16(COMPRESSION_SGILOG24) {
            throw fail("LogLuv (SGILOG) compressed samples are not supported")
        }
        if photometric == UInt16(PHOTOMETRIC_YCBCR) {
            // libtiff converts JPEG's YCbCr to RGB itself; other YCbCr files would need the
            // chroma upsampling done here, which satellite data never needs.
            guard compression == UInt16(COMPRESSION_JPEG), samplesPerPixel == 3, bitsPerSample == 8 else {
                throw fail("YCbCr samples are only supported with JPEG compression (compression \(Self.compressionName(compression)))")
            }
            guard ctiff_set_int(tif, UInt32(TIFFTAG_JPEGCOLORMODE), JPEGCOLORMODE_RGB) == 1 else {
                throw fail("libtiff cannot convert this JPEG's YCbCr to RGB")
            }
        }

        tiled = TIFFIsTiled(tif) != 0
        if tiled {
            guard ctiff_get_u32(tif, UInt32(TIFFTAG_TILEWIDTH), &u32) == 1, u32 > 0 else { throw fail("tile width is 0 or missing") }
            chunkWidth = Int(u32)
            guard ctiff_get_u32(tif, UInt32(TIFFTAG_TILELENGTH), &u32) == 1, u32 > 0 else { throw fail("tile height is 0 or missing") }
            chunkHeight = Int(u32)
        } else {
            chunkWidth = width
            u32 = UInt32.max
            _ = ctiff_get_u32_defaulted(tif, UInt32(TIFFTAG_ROWSPERSTRIP), &u32)
            guard u32 > 0 else { throw fail("RowsPerStrip is 0") }
            chunkHeight = min(Int(u32), height)
        }
        chunksAcross = (width + chunkWidth - 1) / chunkWidth
        chunksDown = (height + chunkHeight - 1) / chunkHeight
        let declared = Int(tiled ? TIFFNumberOfTiles(tif) : TIFFNumberOfStrips(tif))
        let needChunks = chunksAcross * chunksDown * (planar == .separate ? samplesPerPixel : 1)
        guard declared >= needChunks else {
            throw fail("the file declares \(declared) \(tiled ? "tiles" : "strips") but its size and layout need \(needChunks)")
        }

        let samplesPerRow = chunkWidth * (planar == .separate ? 1 : samplesPerPixel)
        let (rowBits, overflow) = samplesPerRow.multipliedReportingOverflow(by: bitsPerSample)
        guard !overflow else { throw fail("a row of \(width) pixels is too large") }
        chunkRowBytes = (rowBits + 7) / 8
        let (needed, overflow2) = chunkRowBytes.multipliedReportingOverflow(by: chunkHeight)
        guard !overflow2 else { throw fail("one \(tiled ? "tile" : "strip") is too large to address") }
        let libtiffSize = Int(tiled ? TIFFTileSize64(tif) : TIFFStripSize64(tif))
        guard libtiffSize >= needed else {
            throw fail("libtiff cannot read this layout (its \(tiled ? "tile" : "strip") size \(libtiffSize) is under the \(needed) bytes the samples need)")
        }
        chunkBytes = libtiffSize
    }

    /// The strip or tile number of a chunk in libtiff's numbering.
    func chunkIndex(plane: Int, row: Int, column: Int) -> Int {
        (plane * chunksDown + row) * chunksAcross + column
    }

    /// Rows the chunk actually holds: the last strip may be short, tiles are always full.
    func rowsStored(inChunkRow row: Int) -> Int {
        tiled ? chunkHeight : min(chunkHeight, height - row * chunkHeight)
    }

    /// An upper bound on how far the codec can expand its input, or nil when the format sets none
    /// that is useful; used to refuse strips whose compressed bytes cannot back their size.
    var maximumExpansion: Int? {
        switch Int32(compression) {
        case COMPRESSION_NONE: 1
        case COMPRESSION_PACKBITS: 128
        case COMPRESSION_ADOBE_DEFLATE, COMPRESSION_DEFLATE: 1100
        // Once its table is full each 9..12-bit LZW code can emit at most 4096 bytes.
        case COMPRESSION_LZW: 5500
        default: nil
        }
    }

    /// libtiff's lower-case name for a compression code.
    static func compressionName(_ code: UInt16) -> String {
        switch Int32(code) {
        case COMPRESSION_NONE: "none"
        case COMPRESSION_CCITTRLE: "ccittrle"
        case COMPRESSION_CCITTRLEW: "ccittrlew"
        case COMPRESSION_CCITTFAX3: "ccittfax3"
        case COMPRESSION_CCITTFAX4: "ccittfax4"
        case COMPRESSION_LZW: "lzw"
        case COMPRESSION_OJPEG: "ojpeg"
        case COMPRESSION_JPEG: "jpeg"
        case COMPRESSION_ADOBE_DEFLATE, COMPRESSION_DEFLATE: "deflate"
        case COMPRESSION_PACKBITS: "packbits"
        case COMPRESSION_THUNDERSCAN: "thunderscan"
        case COMPRESSION_NEXT: "next"
        case COMPRESSION_PIXARLOG: "pixarlog"
        case COMPRESSION_PIXARFILM: "pixarfilm"
        case COMPRESSION_DCS: "dcs"
        case COMPRESSION_JBIG: "jbig"
        case COMPRESSION_SGILOG: "sgilog"
        case COMPRESSION_SGILOG24: "sgilog24"
        case COMPRESSION_JP2000: "jp2000"
        case COMPRESSION_LERC: "lerc"
        case COMPRESSION_LZMA: "lzma"
        case COMPRESSION_ZSTD: "zstd"
        case COMPRESSION_WEBP: "webp"
        case 50002: "jxl"
        default: "\(code)"
        }
    }
}
