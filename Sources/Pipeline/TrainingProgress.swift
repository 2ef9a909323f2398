/// Where a run stands, stored in the last checkpoint so `--resume` continues exactly.
struct TrainingProgress: Codable, Equatable {
    var batchesDone: Int
    var bestValidationLoss: Double?
    var seed: UInt64
    var stepsPerEpoch: Int
    var batchSize: Int
    var classWeights: [Double]
}
