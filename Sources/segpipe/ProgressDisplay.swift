import Foundation
import Pipeline

/// Shows training progress: a redrawn status line on a terminal, plain log lines otherwise.
final class ProgressDisplay {
    let interactive = isatty(STDOUT_FILENO) != 0
    var lineOpen = false
    var lastDraw = Date.distantPast

    func show(_ event: TrainingEvent) {
        switch event {
        case .prepared(let plan):
            if plan.startedWithoutCheckpoint { line("no checkpoint to resume from; starting a new model") }
            let resumed = plan.resumedAtBatch > 0 ? ", resuming at batch \(plan.resumedAtBatch)" : ""
            line("training on \(plan.scenes) scenes, \(plan.validationTiles) validation tiles, \(plan.totalBatches) batches\(resumed)")
            if let warning = plan.config.speedWarning { line("note: " + warning) }
            line("normalization \(plan.normalization.mode.rawValue); class weights \(plan.classWeights.map { String(format: "%.3f", $0) }.joined(separator: ", "))")
        case let .step(epoch, step, loss, rate, eta):
            guard interactive, Date().timeIntervalSince(lastDraw) > 0.2 else { return }
            lastDraw = Date()
            let text = String(format: "epoch %d step %d  loss %.4f  %.1f tiles/s  ETA %@", epoch, step, loss, rate, duration(eta))
            StandardStreams.write("\r" + TerminalText.line(text) + "\u{1B}[K", to: STDOUT_FILENO)
            lineOpen = true
        case .epochFinished(let m):
            var text = String(format: "epoch %d  loss ", m.epoch) + (m.trainingLoss.map { String(format: "%.4f", $0) } ?? "none (no labelled pixel)")
            if let v = m.validationLoss { text += String(format: "  val_loss %.4f", v) }
            if let iou = m.meanIoU { text += String(format: "  mean IoU %.3f", iou) }
            text += "  " + m.classIoU.map { String(format: "%@ %.3f", $0.name, $0.iou) }.joined(separator: ", ")
            text += String(format: "  %.1f tiles/s  loader wait %.0f%%", m.tilesPerSecond, 100 * m.loaderWaitShare)
            line(text)
        case .checkpointWritten:
            break
        }
    }

    func line(_ text: String) {
        let prefix = lineOpen ? "\r\u{1B}[K" : ""
        lineOpen = false
        print(prefix + TerminalText.line(text))
    }

    func finish() {
        if lineOpen { print("") }
        lineOpen = false
    }

    func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let s = Int(seconds)
        return s >= 3600 ? "\(s / 3600)h\(s % 3600 / 60)m" : "\(s / 60)m\(s % 60)s"
    }
}
