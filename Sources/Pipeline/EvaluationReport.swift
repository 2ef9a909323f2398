import Raster

/// The result of `Evaluator.evaluate`: a matrix per evaluated scene, their sum, and the scenes
/// that failed. `table` and `json` format it.
public struct EvaluationReport: Sendable {
    /// Names the classes; the matrices cover ids `0 ... legend.maximumID`.
    public var legend: ClassLegend
    /// Evaluated scenes in file-name order.
    public var scenes: [SceneEvaluation]
    public var failures: [EvaluationFailure]

    public init(legend: ClassLegend, scenes: [SceneEvaluation], failures: [EvaluationFailure]) {
        self.legend = legend
        self.scenes = scenes
        self.failures = failures
    }

    /// The sum of the scenes' matrices.
    public var total: ConfusionMatrix {
        scenes.reduce(ConfusionMatrix(legend: legend)) { $0 + $1.matrix }
    }
}
