/// Thrown when a run was asked to stop (SIGINT, SIGTERM): by a batch prediction between scenes,
/// after its manifest and report were written, so the next run continues where it stopped; by an
/// evaluation between scenes, before it writes its report; or between stages.
public struct RunInterrupted: Error, CustomStringConvertible, Sendable, Equatable {
    public var stage: String
    /// Whether `stage` had finished, so that only the later stages were left out.
    public var stageFinished = false

    public init(stage: String, stageFinished: Bool = false) {
        self.stage = stage
        self.stageFinished = stageFinished
    }

    public var description: String {
        stageFinished ? "\(stage): finished; stopped on request before the later stages"
            : "\(stage): interrupted; the next run continues with the remaining scenes"
    }
}
