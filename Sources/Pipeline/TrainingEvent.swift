/// What the trainer reports as it goes; the command line decides how to show it.
public enum TrainingEvent: Sendable {
    case prepared(TrainingPlan)
    case step(epoch: Int, step: Int, loss: Float, tilesPerSecond: Double, etaSeconds: Double)
    case epochFinished(EpochMetrics)
    case checkpointWritten(path: String)
}
