import Raster
import Tiling
import UNet

/// Everything predicting a scene needs except the network itself: values only, so the thread
/// that reads and tiles scenes and the thread that stitches and writes them can each hold a copy.
struct PredictionSettings: Sendable {
    var options: PredictionOptions
    var config: UNetConfig
    var normalization: Normalization
    var legend: ClassLegend
    var painter: ClassPainter
    var overlap: Int

    /// The transforms each tile is run under: all eight with test-time augmentation.
    var transforms: [DihedralTransform] { options.testTimeAugmentation ? DihedralTransform.allCases : [.identity] }
}
