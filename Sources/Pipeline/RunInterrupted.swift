/// Thrown by a batch prediction that was asked to stop (SIGINT, SIGTERM) between scenes, after
/// its manifest and report were written; the next run continues where it stopped.
public struct RunInterrupted: Error, CustomStringConvertible, Sendable {
    public var stage: String
    public var description: String { "\(stage): interrupted; the next run continues with the remaining scenes" }
}
