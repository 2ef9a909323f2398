import Raster

/// The overlapping tile windows that cover a scene for prediction.
///
/// The scene is extended by a reflected margin of at least half the overlap on every side, so
/// pixels at the scene's edge also see context, and tiles step by `tileSize − overlap`. The last
/// tile on an axis is moved back to end at the margin's edge rather than running far past it.
/// Origins are multiples of `alignment` (2^depth for a U-Net), so every tile pools on the same
/// pixel grid as a pass over the whole scene would; the margin is rounded up to that grid.
/// A scene exactly one tile in size is one unpadded tile, as training tiles are; a smaller one
/// is one tile centred on it, which needs no alignment as no other tile meets it.
public struct TileGrid: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public let tileSize: Int
    public let overlap: Int
    public let alignment: Int
    /// x of each tile column, in scene coordinates (negative or past the width where padded).
    public let columnOrigins: [Int]
    /// y of each tile row.
    public let rowOrigins: [Int]

    public init(width: Int, height: Int, tileSize: Int, overlap: Int, alignment: Int = 1) throws {
        guard width >= 1, height >= 1 else { throw TilingError("scene size \(width)×\(height) is empty") }
        guard tileSize >= 1 else { throw TilingError("tile size must be positive (got \(tileSize))") }
        guard alignment >= 1 else { throw TilingError("alignment must be positive (got \(alignment))") }
        guard overlap >= 0, 2 * overlap <= tileSize else {
            throw TilingError("overlap \(overlap) must be between 0 and half the tile size (\(tileSize / 2))")
        }
        guard (tileSize - overlap) % alignment == 0 else {
            throw TilingError("tile size minus overlap (\(tileSize - overlap)) must be a multiple of \(alignment)")
        }
        self.width = width
        self.height = height
        self.tileSize = tileSize
        self.overlap = overlap
        self.alignment = alignment
        columnOrigins = Self.origins(length: width, tile: tileSize, overlap: overlap, alignment: alignment)
        rowOrigins = Self.origins(length: height, tile: tileSize, overlap: overlap, alignment: alignment)
    }

    static func origins(length: Int, tile: Int, overlap: Int, alignment: Int) -> [Int] {
        if length == tile { return [0] }
        if length < tile { return [-(tile - length) / 2] }
        let margin = ceilToMultiple(overlap / 2, alignment)
        let first = -margin
        let last = ceilToMultiple(length + margin - tile, alignment)
        var origins = [first]
        let stride = tile - overlap
        while let current = origins.last, current + stride < last { origins.append(current + stride) }
        if let current = origins.last, current < last { origins.append(last) }
        return origins
    }

    /// Every tile, row by row.
    public var tiles: [PixelWindow] {
        rowOrigins.flatMap { y in columnOrigins.map { x in PixelWindow(x: x, y: y, width: tileSize, height: tileSize) } }
    }

    /// Number of tiles in the grid.
    public var tileCount: Int { rowOrigins.count * columnOrigins.count }

    /// The window of grid tile (`row`, `column`).
    public func tile(row: Int, column: Int) -> PixelWindow {
        PixelWindow(x: columnOrigins[column], y: rowOrigins[row], width: tileSize, height: tileSize)
    }

    /// The in-scene window to read for a tile; reflect it into the tile with `ReflectPadding.extract`.
    public func sourceWindow(for tile: PixelWindow) -> PixelWindow {
        ReflectPadding.sourceWindow(for: tile, width: width, height: height)
    }
}

@inline(__always)
func floorToMultiple(_ value: Int, _ step: Int) -> Int { value >= 0 ? value / step * step : -ceilToMultiple(-value, step) }

@inline(__always)
func ceilToMultiple(_ value: Int, _ step: Int) -> Int { value >= 0 ? (value + step - 1) / step * step : -floorToMultiple(-value, step) }
