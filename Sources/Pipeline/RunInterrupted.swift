/// Thrown when a run was asked to stop (SIGINT, SIGTERM): by a batch prediction between scenes,
/// after its manifest and report were written, so the next run continues where it stopped; by an
/// evaluation between scenes, before it writes its report; or between stages.
public struct RunInterrupted: Error, CustomStringConvertible, Sendable, Equatable {
    public var stage: String
    /// Whether `stage` had finished, so that only the later stages were left out.
    public var stageFinished = false
    /// Whether the next run continues the stage where it stopped (a predict stage) rather than
    /// doing it again (an evaluation, which writes its report only at the end).
    public var continuesNextRun = true

    public init(stage: String, stageFinished: Bool = false, continuesNextRun: Bool = true) {
        self.stage = stage
        self.stageFinished = stageFinished
        self.continuesNextRun = continuesNextRun
    }

    public var description: String {
        if stageFinished { return "\(stage): finished; stopped on request before the later stages" }
        return continuesNextRun ? "\(stage): interrupted; the next run continues with the remaining scenes"
            : "\(stage): interrupted; nothing was written, the next run does it again"
    }
}
