import Foundation
import Raster
import Tiling
import UNet

/// What flows, in scene order, from the thread that tiles scenes through the network to the
/// thread that stitches and writes them.
enum ScenePipelineItem: Sendable {
    /// A scene was opened; its batches follow.
    case begin(Layout)
    /// Packed network input, from the tiler.
    case tiles(Tiles)
    /// Network output, for the assembler.
    case predictions(Predictions)
    /// The scene failed upstream; nothing more of it follows.
    case failed(scene: Int, any Error)
    /// Every batch of the scene has been sent.
    case end(scene: Int)

    /// An opened scene: what its outputs need to know about it.
    struct Layout: Sendable {
        /// Position in the list of scenes being predicted.
        var scene: Int
        var path: String
        var info: RasterInfo
        var grid: TileGrid
        var geoReference: GeoReference
        /// When the scene was opened, for its wall time.
        var started: Date
    }

    /// A batch of tiles packed as NHWC network input (each tile under every transform), and the
    /// scene rows with nodata or NaN pixels found while reading it (flags per column).
    struct Tiles: Sendable {
        var scene: Int
        var positions: [(row: Int, column: Int)]
        var input: HostTensor
        var invalidRows: [Int: [Bool]]
    }

    /// The network's output for a `Tiles` batch, and how long the network took.
    struct Predictions: Sendable {
        var scene: Int
        var positions: [(row: Int, column: Int)]
        var output: HostTensor
        var invalidRows: [Int: [Bool]]
        var networkSeconds: Double
    }
}
