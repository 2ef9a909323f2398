/// The stored numeric type of a raster's samples, named as `segpipe inspect --json` reports it.
/// Sub-byte integers (1, 2 and 4 bits) report `uint8` with their true `bitsPerSample`.
public enum SampleType: String, Sendable, Codable, CaseIterable {
    case uint8, int8, uint16, int16, uint32, int32, uint64, int64, float16, float32, float64

    public var isFloatingPoint: Bool { self == .float16 || self == .float32 || self == .float64 }
}

/// How a multi-band file stores its bands: interleaved per pixel, or one plane per band.
public enum PlanarLayout: String, Sendable, Codable {
    case contiguous, separate
}

public enum RasterFormat: String, Sendable, Codable {
    case tiff, png
}

/// What a reader learns from a file's header: everything `segpipe inspect` reports.
public struct RasterInfo: Sendable, Equatable {
    public var path: String
    public var format: RasterFormat
    public var width: Int
    public var height: Int
    public var bands: Int
    public var sampleType: SampleType
    public var bitsPerSample: Int
    public var planar: PlanarLayout
    public var tiled: Bool
    /// Lower-case codec name ("none", "lzw", "deflate", "jpeg", ...; "deflate" for PNG).
    public var compression: String
    public var bigTIFF: Bool
    public var pages: Int
    /// The GDAL nodata value, when the file declares one.
    public var nodata: Double?
    /// True when the file places pixels on the ground by an affine map (`GeoReference.affine`).
    public var georeferenced: Bool
    /// Ground control points of a file georeferenced by them instead.
    public var groundControlPoints: Int
    /// True when the file has RPC coefficients (an unrectified satellite scene's camera model).
    public var hasRPCCoefficients: Bool
    /// True when sample values are indices into a colour table.
    public var isPalette: Bool

    public init(
        path: String, format: RasterFormat, width: Int, height: Int, bands: Int,
        sampleType: SampleType, bitsPerSample: Int, planar: PlanarLayout = .contiguous,
        tiled: Bool = false, compression: String = "none", bigTIFF: Bool = false, pages: Int = 1,
        nodata: Double? = nil, georeferenced: Bool = false, groundControlPoints: Int = 0,
        hasRPCCoefficients: Bool = false, isPalette: Bool = false
    ) {
        self.path = path
        self.format = format
        self.width = width
        self.height = height
        self.bands = bands
        self.sampleType = sampleType
        self.bitsPerSample = bitsPerSample
        self.planar = planar
        self.tiled = tiled
        self.compression = compression
        self.bigTIFF = bigTIFF
        self.pages = pages
        self.nodata = nodata
        self.georeferenced = georeferenced
        self.groundControlPoints = groundControlPoints
        self.hasRPCCoefficients = hasRPCCoefficients
        self.isPalette = isPalette
    }
}
