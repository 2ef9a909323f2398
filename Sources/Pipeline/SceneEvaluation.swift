/// The confusion matrix of one predicted scene against its truth.
public struct SceneEvaluation: Sendable, Equatable {
    /// The file stem shared by the prediction and its truth (`scene7`).
    public var scene: String
    public var predictionPath: String
    public var truthPath: String
    public var matrix: ConfusionMatrix

    public init(scene: String, predictionPath: String, truthPath: String, matrix: ConfusionMatrix) {
        self.scene = scene
        self.predictionPath = predictionPath
        self.truthPath = truthPath
        self.matrix = matrix
    }
}
