/// Where a run stands, stored in the last checkpoint so `--resume` continues exactly.
struct TrainingProgress: Codable, Equatable {
    var batchesDone: Int
    var bestValidationLoss: Double?
    var seed: UInt64
    var stepsPerEpoch: Int
    var batchSize: Int
    var classWeights: [Double]
    /// Sum of the current epoch's step losses so far, each times its batch's labelled pixels, so
    /// an epoch interrupted and resumed reports (and picks its best model by) the same mean as an
    /// uninterrupted one.
    var epochLossSum: Double = 0
    /// The current epoch's labelled pixels so far. Nil in checkpoints written before the training
    /// loss was weighted by pixels, whose sum was of batch means
    /// (`Trainer.adoptingPixelWeightedLosses`).
    var epochLabelledPixels: Double?
    /// How the run split and drew its data, so that a resumed run can refuse other settings
    /// (nil in checkpoints written before they were stored).
    var normalization: String?
    var validationFraction: Double?
    var validationScenes: [String]?
    var rareClassProbability: Double?
}
