/// What predicting one scene produced.
public struct ScenePrediction: Sendable {
    public var scene: String
    public var outputs: [String]
    /// Wall time from opening the scene to its class map landing; pipelined scenes overlap, so
    /// these add up to more than the run's wall time.
    public var seconds: Double
    /// Time spent inside `UNetModel.forward` for this scene's batches.
    public var networkSeconds: Double
    public var tiles: Int
    /// Share of valid pixels painted with each class id 0...classes.
    public var classFractions: [Double]
}
