import Raster

/// Blends overlapping tile predictions into whole rows of the scene while holding only a band
/// about one tile tall across the scene's width.
///
/// Tiles must arrive row by row in `TileGrid` order. Once every tile of a grid row is in, the
/// rows above the next grid row can receive nothing more: they are normalised by their summed
/// weights and handed out by `takeFinishedRows()`, and the band moves down.
public struct Stitcher: Sendable {
    public let grid: TileGrid
    public let channels: Int
    let blend: BlendWindow
    /// Profiles along each axis for the first, a middle and the last tile (and a lone tile).
    let rowProfiles: [[Float]]
    let columnProfiles: [[Float]]

    /// First scene row the band holds; rows above it have been handed out.
    public private(set) var bandTop = 0
    var accumulated: [Float]
    var weights: [Float]
    var lastTile: (row: Int, column: Int)?
    /// Normalised blocks of rows not yet taken, oldest first.
    var finishedBlocks: [(firstRow: Int, rows: RasterBuffer)] = []

    public init(grid: TileGrid, channels: Int) {
        self.grid = grid
        self.channels = channels
        blend = BlendWindow(tileSize: grid.tileSize, overlap: grid.overlap)
        rowProfiles = Self.profiles(count: grid.rowOrigins.count, blend: blend)
        columnProfiles = Self.profiles(count: grid.columnOrigins.count, blend: blend)
        accumulated = [Float](repeating: 0, count: channels * grid.tileSize * grid.width)
        weights = [Float](repeating: 0, count: grid.tileSize * grid.width)
    }

    static func profiles(count: Int, blend: BlendWindow) -> [[Float]] {
        (0..<count).map { i in blend.profile(taperStart: i > 0, taperEnd: i < count - 1) }
    }

    /// Adds the prediction for grid tile (`row`, `column`): `channels` × tileSize × tileSize.
    public mutating func add(_ prediction: RasterBuffer, row: Int, column: Int) throws {
        let t = grid.tileSize
        guard prediction.bands == channels, prediction.width == t, prediction.height == t else {
            throw TilingError("tile prediction is \(prediction.bands)×\(prediction.height)×\(prediction.width), expected \(channels)×\(t)×\(t)")
        }
        guard row >= 0, row < grid.rowOrigins.count, column >= 0, column < grid.columnOrigins.count else {
            throw TilingError("tile (\(row), \(column)) is outside the grid")
        }
        if let last = lastTile {
            let expected = last.column + 1 < grid.columnOrigins.count ? (last.row, last.column + 1) : (last.row + 1, 0)
            guard (row, column) == expected else {
                throw TilingError("tile (\(row), \(column)) arrived out of order; expected \(expected)")
            }
        } else if row != 0 || column != 0 {
            throw TilingError("the first tile must be (0, 0), got (\(row), \(column))")
        }
        if column == 0 && row > 0 { completeRows(upTo: grid.rowOrigins[row]) }
        lastTile = (row, column)

        let originY = grid.rowOrigins[row], originX = grid.columnOrigins[column]
        let rowWeights = rowProfiles[row], columnWeights = columnProfiles[column]
        let width = grid.width, bandRows = t
        let top = max(originY, 0), bottom = min(originY + t, grid.height)
        let left = max(originX, 0), right = min(originX + t, grid.width)
        guard top < bottom, left < right else { return }
        let plane = bandRows * width
        let bandStart = bandTop
        prediction.values.withUnsafeBufferPointer { tile in
            accumulated.withUnsafeMutableBufferPointer { acc in
                weights.withUnsafeMutableBufferPointer { wsum in
                    for y in top..<bottom {
                        let ty = y - originY
                        let wy = rowWeights[ty]
                        if wy == 0 { continue }
                        let bandRow = (y - bandStart) * width
                        for x in left..<right {
                            let tx = x - originX
                            let w = wy * columnWeights[tx]
                            if w == 0 { continue }
                            wsum[bandRow + x] += w
                            for c in 0..<channels {
                                acc[c * plane + bandRow + x] += w * tile[(c * t + ty) * t + tx]
                            }
                        }
                    }
                }
            }
        }
    }

    /// Declares the grid complete: every remaining row becomes finished.
    public mutating func finish() throws {
        guard let last = lastTile, last.row == grid.rowOrigins.count - 1,
              last.column == grid.columnOrigins.count - 1 else {
            throw TilingError("the stitcher was finished before every tile arrived")
        }
        completeRows(upTo: grid.height)
    }

    /// The oldest block of finished rows not yet taken (`channels` × n × width, starting at scene
    /// row `firstRow`), or nil when none; call until nil to take them all.
    public mutating func takeFinishedRows() -> (firstRow: Int, rows: RasterBuffer)? {
        finishedBlocks.isEmpty ? nil : finishedBlocks.removeFirst()
    }

    /// Normalises rows [bandTop, limit) and moves the band down past them.
    mutating func completeRows(upTo limit: Int) {
        let end = min(max(limit, bandTop), grid.height)
        let count = end - bandTop
        guard count > 0 else { return }
        let width = grid.width, plane = grid.tileSize * width
        var block = [Float](repeating: 0, count: channels * count * width)
        block.withUnsafeMutableBufferPointer { out in
            accumulated.withUnsafeBufferPointer { acc in
                weights.withUnsafeBufferPointer { wsum in
                    for c in 0..<channels {
                        for i in 0..<(count * width) {
                            let w = wsum[i]
                            out[c * count * width + i] = w > 0 ? acc[c * plane + i] / w : 0
                        }
                    }
                }
            }
        }
        finishedBlocks.append((bandTop, RasterBuffer(bands: channels, width: width, height: count, values: block)))
        // Shift the band up by `count` rows and clear the freed rows at its bottom.
        let keep = grid.tileSize - count
        accumulated.withUnsafeMutableBufferPointer { acc in
            for c in 0..<channels {
                let base = c * plane
                if keep > 0 {
                    for i in 0..<(keep * width) { acc[base + i] = acc[base + count * width + i] }
                }
                for i in (max(keep, 0) * width)..<plane { acc[base + i] = 0 }
            }
        }
        weights.withUnsafeMutableBufferPointer { wsum in
            if keep > 0 { for i in 0..<(keep * width) { wsum[i] = wsum[count * width + i] } }
            for i in (max(keep, 0) * width)..<plane { wsum[i] = 0 }
        }
        bandTop = end
    }

    /// Summed blending weights of the rows the band holds (for tests and diagnostics).
    public var bandWeights: [Float] { weights }
}
