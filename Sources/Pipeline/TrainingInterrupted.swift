/// Thrown after a stop request (SIGINT, SIGTERM) once the checkpoint is safely written.
public struct TrainingInterrupted: Error, CustomStringConvertible, Sendable {
    public var checkpoint: String
    /// How to continue, in the terms of the command that trained.
    public var advice = "resume with --resume"

    public init(checkpoint: String) {
        self.checkpoint = checkpoint
    }

    public var description: String { "training interrupted; checkpoint \(checkpoint) saved; \(advice)" }
}
