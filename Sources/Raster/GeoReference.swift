/// The GeoTIFF tags of a file, kept exactly as stored so a writer can copy them unchanged.
public struct GeoReference: Sendable, Equatable {
    public var modelPixelScale: [Double]?
    public var modelTiepoint: [Double]?
    public var modelTransformation: [Double]?
    public var geoKeyDirectory: [UInt16]?
    public var geoDoubleParams: [Double]?
    public var geoAsciiParams: String?
    /// RPCCoefficientTag (50844): the rational polynomial camera model of an unrectified
    /// satellite scene, which places its pixels on the ground where no affine map can.
    public var rpcCoefficients: [Double]?

    public init(
        modelPixelScale: [Double]? = nil, modelTiepoint: [Double]? = nil,
        modelTransformation: [Double]? = nil, geoKeyDirectory: [UInt16]? = nil,
        geoDoubleParams: [Double]? = nil, geoAsciiParams: String? = nil, rpcCoefficients: [Double]? = nil
    ) {
        self.rpcCoefficients = rpcCoefficients
        self.modelPixelScale = modelPixelScale
        self.modelTiepoint = modelTiepoint
        self.modelTransformation = modelTransformation
        self.geoKeyDirectory = geoKeyDirectory
        self.geoDoubleParams = geoDoubleParams
        self.geoAsciiParams = geoAsciiParams
    }

    /// True when the file has no GeoTIFF tag at all.
    public var isEmpty: Bool { self == GeoReference() }

    /// True when the tags place pixels on the ground by an affine map (`affine`): a transform,
    /// or a scale with a tie point. Ground control points (several tie points, no scale) are
    /// georeferencing too, but not an affine one, so they give no world file.
    public var isGeoreferenced: Bool { affine != nil }

    /// True when the file has RPC coefficients.
    public var hasRPCCoefficients: Bool { !(rpcCoefficients?.isEmpty ?? true) }

    /// Ground control points: the tie points of a file without an affine georeference.
    public var groundControlPoints: Int { affine == nil ? (modelTiepoint?.count ?? 0) / 6 : 0 }

    /// GTRasterTypeGeoKey, the key that says what a raster position means.
    static let rasterTypeKey: UInt16 = 1025
    /// Its value RasterPixelIsPoint: a position names a pixel's centre, not its top-left corner.
    static let rasterPixelIsPoint: UInt16 = 2

    /// Whether the GeoKey directory declares RasterPixelIsPoint (the default is PixelIsArea).
    public var pixelIsPoint: Bool {
        guard let keys = geoKeyDirectory, keys.count >= 4 else { return false }
        let count = Int(keys[3])
        for k in 0..<count where 4 + 4 * k + 3 < keys.count {
            let entry = keys[(4 + 4 * k)...]
            // Location 0: the value is stored in the entry itself.
            if entry[entry.startIndex] == Self.rasterTypeKey && entry[entry.startIndex + 1] == 0 {
                return entry[entry.startIndex + 3] == Self.rasterPixelIsPoint
            }
        }
        return false
    }

    /// The affine map from pixel (column, row) to map coordinates of the pixel's corner, as
    /// (a, b, c, d, e, f): x = a·col + b·row + c, y = d·col + e·row + f. For PixelIsPoint files,
    /// whose tags place pixel centres, it is moved back half a pixel, as GDAL reads them.
    public var affine: (a: Double, b: Double, c: Double, d: Double, e: Double, f: Double)? {
        var g: (a: Double, b: Double, c: Double, d: Double, e: Double, f: Double)
        if let m = modelTransformation, m.count >= 16 {
            g = (m[0], m[1], m[3], m[4], m[5], m[7])
        } else if let s = modelPixelScale, s.count >= 2, let t = modelTiepoint, t.count >= 6 {
            let a = s[0], e = -s[1]
            g = (a, 0, t[3] - t[0] * a, 0, e, t[4] - t[1] * e)
        } else {
            return nil
        }
        if pixelIsPoint {
            g.c -= 0.5 * g.a + 0.5 * g.b
            g.f -= 0.5 * g.d + 0.5 * g.e
        }
        // A zero or non-finite scale maps every pixel to one point or nowhere: no georeference.
        let determinant = g.a * g.e - g.b * g.d
        guard [g.a, g.b, g.c, g.d, g.e, g.f].allSatisfy(\.isFinite), determinant != 0, determinant.isFinite else { return nil }
        return g
    }

    /// The six lines of an ESRI world file (`.pgw`, `.tfw`): they name the centre of the top-left
    /// pixel, not its corner.
    public var worldFileText: String? {
        guard let g = affine else { return nil }
        let cx = g.c + 0.5 * g.a + 0.5 * g.b
        let cy = g.f + 0.5 * g.d + 0.5 * g.e
        return [g.a, g.d, g.b, g.e, cx, cy].map { String($0) }.joined(separator: "\n") + "\n"
    }
}
