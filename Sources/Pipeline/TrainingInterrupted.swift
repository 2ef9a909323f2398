/// Thrown after a stop request (SIGINT, SIGTERM) once the checkpoint is safely written.
public struct TrainingInterrupted: Error, CustomStringConvertible, Sendable {
    public var checkpoint: String
    public var description: String { "training interrupted; resume with --resume from \(checkpoint)" }
}
