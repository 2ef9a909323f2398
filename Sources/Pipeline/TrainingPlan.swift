import UNet

/// The run as decided before the first step.
public struct TrainingPlan: Sendable {
    public var scenes: Int
    public var validationTiles: Int
    public var resumedAtBatch: Int
    public var totalBatches: Int
    public var normalization: Normalization
    public var classWeights: [Double]
    public var config: UNetConfig
    /// Asked to resume, the run found no checkpoint and started a new model.
    public var startedWithoutCheckpoint = false
}
