import Foundation
import Raster
import Tiling
import UNet

/// Reads a scene one band of tile rows at a time and hands out its tiles in `TileGrid` order,
/// reflect-padded, normalised and packed into NHWC network input, a batch at a time.
///
/// Owns its `TIFFReader`, so it stays on the thread that made it.
struct SceneTiler {
    let layout: ScenePipelineItem.Layout
    private let reader: TIFFReader
    private let settings: PredictionSettings
    /// Grid index (row-major) of the next tile to hand out.
    private var nextTile = 0
    /// The band read for the current grid row, and the scene window it holds.
    private var band: (row: Int, source: PixelWindow, values: RasterBuffer)?
    /// Scene rows above this have been checked for nodata.
    private var checkedRows = 0

    /// Opens the scene and lays its grid; fails when the scene cannot be read or has the wrong bands.
    init(scene: Int, path: String, settings: PredictionSettings) throws {
        let started = Date()
        let config = settings.config
        reader = try TIFFReader(path: path)
        let info = reader.info
        guard info.bands == config.nChannels else {
            throw PipelineError(path: path, reason: "has \(info.bands) bands but the model takes \(config.nChannels)")
        }
        // Before reading anything: a row of tiles is read across the whole width.
        guard info.width <= PNGWriter.maximumSide, info.height <= PNGWriter.maximumSide else {
            throw PipelineError(path: path, reason: "is \(info.width)×\(info.height); a class map can be at most \(PNGWriter.maximumSide) pixels a side, so cut the scene into parts")
        }
        let grid = try TileGrid(width: info.width, height: info.height, tileSize: config.tileSize,
                                overlap: settings.overlap, alignment: 1 << config.depth)
        layout = .init(scene: scene, path: path, info: info, grid: grid, geoReference: reader.geoReference, started: started)
        self.settings = settings
    }

    /// The next batch of up to `batchSize` tiles; nil after the last.
    mutating func nextBatch() throws -> ScenePipelineItem.Tiles? {
        let grid = layout.grid, info = layout.info, t = settings.config.tileSize
        let columns = grid.columnOrigins.count
        guard nextTile < grid.tileCount else { return nil }
        var tiles: [RasterBuffer] = []
        var positions: [(row: Int, column: Int)] = []
        var invalidRows: [Int: [Bool]] = [:]
        while tiles.count < settings.options.batchSize && nextTile < grid.tileCount {
            let row = nextTile / columns, column = nextTile % columns
            let current: (row: Int, source: PixelWindow, values: RasterBuffer)
            if let band, band.row == row {
                current = band
            } else {
                let y0 = grid.rowOrigins[row]
                let span = PixelWindow(x: grid.columnOrigins[0], y: y0,
                                       width: (grid.columnOrigins.last ?? 0) + t - grid.columnOrigins[0], height: t)
                let source = grid.sourceWindow(for: span)
                current = (row, source, try reader.readWindowMarkingNodata(source))
                recordInvalidRows(current.values, source: source, into: &invalidRows)
                band = current
            }
            var tile = ReflectPadding.extract(PixelWindow(x: grid.columnOrigins[column], y: grid.rowOrigins[row], width: t, height: t),
                                              from: current.values, at: current.source, width: info.width, height: info.height)
            settings.normalization.apply(to: &tile)
            tiles.append(tile)
            positions.append((row, column))
            nextTile += 1
        }
        return .init(scene: layout.scene, positions: positions, input: pack(tiles), invalidRows: invalidRows)
    }

    /// Marks pixels where any band is missing (`Normalization.isMissing`), for scene rows not checked before (bands
    /// overlap, and a row reads the same every time).
    private mutating func recordInvalidRows(_ band: RasterBuffer, source: PixelWindow, into rows: inout [Int: [Bool]]) {
        let plane = band.planeSize
        let first = max(checkedRows - source.y, 0)
        guard first < band.height else { return }
        band.values.withUnsafeBufferPointer { values in
            for r in first..<band.height {
                var flags = [Bool](repeating: false, count: band.width)
                var any = false
                for b in 0..<band.bands {
                    let base = b * plane + r * band.width
                    for x in 0..<band.width {
                        let v = values[base + x]
                        if Normalization.isMissing(v) {
                            flags[x] = true
                            any = true
                        }
                    }
                }
                if any { rows[source.y + r] = flags }
            }
        }
        checkedRows = source.y + band.height
    }

    /// Packs tiles into NHWC input, each under every transform. A short last batch is padded only
    /// to the next power of two, so a scene's remainder costs little and the model keeps a
    /// handful of batch shapes whose primitives it reuses. The transform is applied while
    /// packing, so no transformed copy is made.
    private func pack(_ tiles: [RasterBuffer]) -> HostTensor {
        let t = settings.config.tileSize, plane = t * t, channels = settings.config.nChannels
        let transforms = settings.transforms
        var batch = 1
        while batch < tiles.count { batch *= 2 }
        let slots = min(batch, settings.options.batchSize) * transforms.count
        let destinations = transforms.map { $0.destinationIndices(side: t) }
        var input = [Float](repeating: 0, count: slots * plane * channels)
        input.withUnsafeMutableBufferPointer { packed in
            for (i, tile) in tiles.enumerated() {
                tile.values.withUnsafeBufferPointer { source in
                    for (k, destination) in destinations.enumerated() {
                        let base = (i * transforms.count + k) * plane * channels
                        for pixel in 0..<plane {
                            let target = base + destination[pixel] * channels
                            for ch in 0..<channels { packed[target + ch] = source[ch * plane + pixel] }
                        }
                    }
                }
            }
        }
        return HostTensor(shape: [slots, t, t, channels], values: input)
    }
}
