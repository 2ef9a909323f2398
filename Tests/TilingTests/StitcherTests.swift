import Raster
import Testing
@testable import Tiling

/// Runs a whole grid through a stitcher, each tile predicting `value(channel, x, y)` in scene
/// coordinates, and returns the stitched scene.
func stitch(_ grid: TileGrid, channels: Int, value: (Int, Int, Int) -> Float) throws -> RasterBuffer {
    var stitcher = Stitcher(grid: grid, channels: channels)
    var out = RasterBuffer(bands: channels, width: grid.width, height: grid.height)
    var rowsSeen = 0
    func drain(_ s: inout Stitcher) {
        while let (first, rows) = s.takeFinishedRows() {
            #expect(first == rowsSeen)
            for c in 0..<channels {
                for r in 0..<rows.height {
                    for x in 0..<grid.width { out[c, first + r, x] = rows[c, r, x] }
                }
            }
            rowsSeen += rows.height
        }
    }
    let t = grid.tileSize
    for (row, y0) in grid.rowOrigins.enumerated() {
        for (column, x0) in grid.columnOrigins.enumerated() {
            var tile = RasterBuffer(bands: channels, width: t, height: t)
            for c in 0..<channels {
                for r in 0..<t { for x in 0..<t { tile[c, r, x] = value(c, x0 + x, y0 + r) } }
            }
            try stitcher.add(tile, row: row, column: column)
            drain(&stitcher)
        }
    }
    try stitcher.finish()
    drain(&stitcher)
    #expect(rowsSeen == grid.height)
    return out
}

@Test func constantPredictionStaysConstant() throws {
    let grid = try TileGrid(width: 300, height: 257, tileSize: 64, overlap: 32, alignment: 8)
    let out = try stitch(grid, channels: 2) { c, _, _ in c == 0 ? 0.25 : 0.75 }
    #expect(out.values[0..<(300 * 257)].allSatisfy { abs($0 - 0.25) < 1e-6 })
    #expect(out.values[(300 * 257)...].allSatisfy { abs($0 - 0.75) < 1e-6 })
}

@Test func everyPixelLandsWhereItBelongs() throws {
    let grid = try TileGrid(width: 203, height: 150, tileSize: 48, overlap: 16)
    let out = try stitch(grid, channels: 1) { _, x, y in Float(x + 1000 * y) }
    for y in 0..<150 {
        for x in 0..<203 {
            let expected = Float(x + 1000 * y)
            #expect(abs(out[0, y, x] - expected) <= 1e-6 * max(1, expected))
        }
    }
}

@Test func blendWeightsOfEvenlySpacedNeighboursSumToOne() {
    let blend = BlendWindow(tileSize: 64, overlap: 32)
    let left = blend.profile(taperStart: false, taperEnd: true)
    let right = blend.profile(taperStart: true, taperEnd: false)
    let stride = 64 - 32
    for i in stride..<64 {
        #expect(abs(left[i] + right[i - stride] - 1) < 1e-6)
    }
    #expect(left[63] == 0)
    #expect(left[0] == 1)
}

@Test func summedWeightsArePositiveEverywhere() throws {
    let grid = try TileGrid(width: 130, height: 70, tileSize: 64, overlap: 32, alignment: 16)
    var stitcher = Stitcher(grid: grid, channels: 1)
    for row in grid.rowOrigins.indices {
        for column in grid.columnOrigins.indices {
            try stitcher.add(RasterBuffer(bands: 1, width: 64, height: 64, repeating: 1), row: row, column: column)
        }
    }
    // The last grid row's band holds the rows that remain; every scene pixel in it has weight.
    let rowsHeld = grid.height - stitcher.bandTop
    #expect(stitcher.bandWeights[0..<(rowsHeld * grid.width)].allSatisfy { $0 > 0 })
}

@Test func tilesOutOfOrderAreRefused() throws {
    let grid = try TileGrid(width: 100, height: 100, tileSize: 64, overlap: 32)
    var stitcher = Stitcher(grid: grid, channels: 1)
    let tile = RasterBuffer(bands: 1, width: 64, height: 64)
    #expect(throws: TilingError.self) { try stitcher.add(tile, row: 0, column: 1) }
    try stitcher.add(tile, row: 0, column: 0)
    #expect(throws: TilingError.self) { try stitcher.finish() }
}
