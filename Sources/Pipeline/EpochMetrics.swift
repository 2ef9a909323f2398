/// One epoch's figures, also written as a line of the metrics file.
public struct EpochMetrics: Sendable {
    public var epoch: Int
    public var step: Int
    /// The mean loss over the epoch's labelled training pixels; nil when its batches held none.
    public var trainingLoss: Double?
    public var validationLoss: Double?
    public var classIoU: [(name: String, iou: Double)]
    public var meanIoU: Double?
    public var tilesPerSecond: Double
    /// Share of the epoch's wall time the trainer waited for batches.
    public var loaderWaitShare: Double
    public var seconds: Double

    public var json: JSONValue {
        .object([
            ("epoch", JSONValue(epoch)), ("step", JSONValue(step)), ("trainingLoss", JSONValue(trainingLoss)),
            ("validationLoss", JSONValue(validationLoss)),
            ("iou", .object(classIoU.map { ($0.name, .number($0.iou)) })), ("meanIoU", JSONValue(meanIoU)),
            ("tilesPerSecond", .number(tilesPerSecond)), ("loaderWaitShare", .number(loaderWaitShare)),
            ("seconds", .number(seconds)),
        ])
    }
}
