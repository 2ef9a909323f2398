import Raster
import Testing
@testable import Tiling

@Test func reflectionMirrorsWithoutRepeatingTheEdge() {
    #expect((-3...7).map { ReflectPadding.index($0, size: 5) } == [3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1])
    // A pad wider than the image keeps bouncing.
    #expect((-6...0).map { ReflectPadding.index($0, size: 3) } == [2, 1, 0, 1, 2, 1, 0])
    #expect(ReflectPadding.index(-4, size: 1) == 0)
}

@Test func reflectedTileMatchesPointwiseReflection() {
    let image = distinctBuffer(bands: 2, width: 7, height: 5)
    let tile = PixelWindow(x: -3, y: -2, width: 12, height: 10)
    let source = ReflectPadding.sourceWindow(for: tile, width: 7, height: 5)
    let padded = ReflectPadding.extract(tile, from: image.cropped(to: source), at: source, width: 7, height: 5)
    for b in 0..<2 {
        for r in 0..<10 {
            for c in 0..<12 {
                let expected = image[b, ReflectPadding.index(r - 2, size: 5), ReflectPadding.index(c - 3, size: 7)]
                #expect(padded[b, r, c] == expected)
            }
        }
    }
}

@Test func sceneOfExactlyOneTileIsOneUnpaddedTile() throws {
    let grid = try TileGrid(width: 160, height: 160, tileSize: 160, overlap: 64, alignment: 32)
    #expect(grid.tiles == [PixelWindow(x: 0, y: 0, width: 160, height: 160)])
    #expect(grid.sourceWindow(for: grid.tiles[0]) == grid.tiles[0])
}

@Test func smallSceneIsOneCentredTile() throws {
    let grid = try TileGrid(width: 40, height: 31, tileSize: 64, overlap: 16)
    #expect(grid.columnOrigins == [-12])
    #expect(grid.rowOrigins == [-16])
    // Centred even where the pooling grid would round the origin to 0: one tile meets no other.
    let deep = try TileGrid(width: 150, height: 97, tileSize: 160, overlap: 64, alignment: 32)
    #expect(deep.columnOrigins == [-5])
    #expect(deep.rowOrigins == [-31])
}

@Test(arguments: [(1000, 32, 64), (161, 1, 32), (500, 32, 0), (333, 8, 48), (700, 32, 32), (161, 32, 32), (170, 16, 16)])
func gridCoversTheSceneWithAlignedOrigins(length: Int, alignment: Int, overlap: Int) throws {
    let grid = try TileGrid(width: length, height: 170, tileSize: 160, overlap: overlap, alignment: alignment)
    let origins = grid.columnOrigins
    #expect(origins.allSatisfy { $0 % alignment == 0 })
    // Each edge pixel sees at least half the overlap of reflected context.
    #expect(origins.first! <= -(overlap / 2))
    #expect(origins.last! + 160 >= length + overlap / 2)
    #expect(zip(origins, origins.dropFirst()).allSatisfy { $1 > $0 && $1 - $0 <= 160 - overlap })
}

@Test func invalidGridsAreExplained() {
    #expect(throws: TilingError.self) { try TileGrid(width: 10, height: 10, tileSize: 160, overlap: 100) }
    #expect(throws: TilingError.self) { try TileGrid(width: 10, height: 10, tileSize: 160, overlap: 40, alignment: 32) }
    #expect(throws: TilingError.self) { try TileGrid(width: 0, height: 10, tileSize: 160, overlap: 32) }
}
