/// A scene that could not be evaluated: no truth, sizes that differ, an unreadable file.
public struct EvaluationFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public var scene: String
    public var predictionPath: String
    /// The truth file, when one was found.
    public var truthPath: String?
    /// One line naming the file(s) and what is wrong.
    public var message: String

    public init(scene: String, predictionPath: String, truthPath: String?, message: String) {
        self.scene = scene
        self.predictionPath = predictionPath
        self.truthPath = truthPath
        self.message = message
    }

    public var description: String { message }
}
