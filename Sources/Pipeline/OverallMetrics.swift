/// Scores over all classes of a `ConfusionMatrix`, background included.
///
/// Means are taken over the classes that are *present*: those with any pixel in the truth or in
/// the prediction. A class absent from both has no defined IoU or F1 and is left out, rather
/// than counted as 0 (which would punish a scene for lacking a class) or 1 (which would reward
/// it). A class present in only one of them scores 0 and is included. Every score is NaN
/// (`null` in JSON) when no pixel was evaluated.
public struct OverallMetrics: Sendable {
    /// Pixels counted in the matrix.
    public let evaluatedPixels: Int
    /// Pixels left out: unlabelled truth or nodata prediction.
    public let ignoredPixels: Int
    /// Correct pixels / evaluated pixels.
    public let pixelAccuracy: Double
    /// Mean IoU over the present classes, background included.
    public let meanIoU: Double
    /// Mean F1 over the present classes, background included.
    public let meanF1: Double
    /// Σ (support / evaluated pixels) × IoU over the classes in the truth.
    public let frequencyWeightedIoU: Double
    /// How many classes the means are taken over.
    public let presentClasses: Int

    public init(_ matrix: ConfusionMatrix) {
        let classes = matrix.classMetrics
        let total = matrix.evaluatedPixels
        let present = classes.filter(\.isPresent)
        evaluatedPixels = total
        ignoredPixels = matrix.ignoredPixels
        presentClasses = present.count
        pixelAccuracy = ClassMetrics.ratio(classes.reduce(0) { $0 + $1.truePositives }, total)
        if present.isEmpty {
            meanIoU = .nan
            meanF1 = .nan
        } else {
            meanIoU = present.reduce(0) { $0 + $1.iou } / Double(present.count)
            meanF1 = present.reduce(0) { $0 + $1.f1 } / Double(present.count)
        }
        frequencyWeightedIoU = total == 0
            ? .nan
            : classes.filter { $0.support > 0 }.reduce(0) { $0 + Double($1.support) * $1.iou } / Double(total)
    }
}
