import UNet

/// A batch ready for `UNetModel.trainStep`: NHWC inputs, NHWC 0/1 targets (channel k is class
/// k + 1) and the pixels to ignore (unlabelled or nodata).
public struct TrainingBatch: Sendable {
    public var inputs: HostTensor
    public var targets: HostTensor
    public var ignore: HostTensor
    /// Labelled class id per pixel (0 background, 255 ignored); for metrics of single-label data.
    public var labels: [UInt8]

    public var tileCount: Int { inputs.shape[0] }
}
