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

    /// What no run can have written: a forged or damaged checkpoint, refused before its numbers
    /// reach arithmetic that would trap on them.
    var problems: [String] {
        var found: [String] = []
        // At most 10^6 epochs of 10^6 steps (`TrainingOptions.problems`).
        if !(0...1_000_000_000_000).contains(batchesDone) { found.append("batchesDone \(batchesDone) is not between 0 and 10^12") }
        if !(1...1_000_000).contains(stepsPerEpoch) { found.append("stepsPerEpoch \(stepsPerEpoch) is not between 1 and 10^6") }
        if !(1...1024).contains(batchSize) { found.append("batchSize \(batchSize) is not between 1 and 1024") }
        if !(epochLossSum.isFinite && epochLossSum >= 0) { found.append("epochLossSum \(epochLossSum) is not a finite sum of losses") }
        if let pixels = epochLabelledPixels, !(pixels.isFinite && pixels >= 0) { found.append("epochLabelledPixels \(pixels) is not a count") }
        if let best = bestValidationLoss, !(best.isFinite && best >= 0) { found.append("bestValidationLoss \(best) is not a loss") }
        if classWeights.contains(where: { !$0.isFinite || $0 < 0 }) { found.append("classWeights hold a negative or non-finite weight") }
        return found
    }
}
