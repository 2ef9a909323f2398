/// What predicting one scene produced.
public struct ScenePrediction: Sendable {
    public var scene: String
    public var outputs: [String]
    public var seconds: Double
    public var tiles: Int
    /// Share of valid pixels painted with each class id 0...classes.
    public var classFractions: [Double]
}
