import Foundation
import Raster

extension ConfusionMatrix {
    /// A plain-text report: one line per class of `legend` (IoU, F1, precision, recall, support,
    /// predicted), the overall scores, and the matrix itself with rows = truth, columns =
    /// prediction, headed by class id. Undefined scores print as "-".
    public func table(legend: ClassLegend) -> String {
        let ids = legendIDs(legend)
        let names = ids.map { TerminalText.line(legend.entry(id: UInt8($0))?.name ?? "class \($0)") }
        let nameWidth = max(5, names.map(\.count).max() ?? 0)
        var lines: [String] = []
        lines.append(Self.pad("class", nameWidth) + "  " + Self.right("IoU", 7) + " " + Self.right("F1", 7) + " "
            + Self.right("precision", 9) + " " + Self.right("recall", 7) + " " + Self.right("support", 12) + " "
            + Self.right("predicted", 12))
        for (id, name) in zip(ids, names) {
            let m = metrics(of: id)
            lines.append(Self.pad(name, nameWidth) + "  " + Self.right(Self.score(m.iou), 7) + " "
                + Self.right(Self.score(m.f1), 7) + " " + Self.right(Self.score(m.precision), 9) + " "
                + Self.right(Self.score(m.recall), 7) + " " + Self.right(String(m.support), 12) + " "
                + Self.right(String(m.predicted), 12))
        }
        let o = overall
        lines.append("overall: pixel accuracy \(Self.score(o.pixelAccuracy)), mean IoU \(Self.score(o.meanIoU)) "
            + "(over \(o.presentClasses) present classes), mean F1 \(Self.score(o.meanF1)), "
            + "frequency-weighted IoU \(Self.score(o.frequencyWeightedIoU)); "
            + "\(o.evaluatedPixels) pixels evaluated, \(o.ignoredPixels) ignored")
        lines.append("confusion matrix (rows = truth, columns = prediction):")
        let cellWidth = max(4, ids.flatMap { t in ids.map { p in String(self[t, p]).count } }.max() ?? 0)
        let labelWidth = nameWidth + 5
        lines.append(Self.pad("", labelWidth) + ids.map { " " + Self.right(String($0), cellWidth) }.joined())
        for (t, name) in zip(ids, names) {
            lines.append(Self.pad(Self.right(String(t), 3) + "  " + name, labelWidth)
                + ids.map { " " + Self.right(String(self[t, $0]), cellWidth) }.joined())
        }
        return lines.joined(separator: "\n")
    }

    /// Four decimals, or "-" for an undefined score.
    static func score(_ value: Double) -> String {
        value.isFinite ? String(format: "%.4f", value) : "-"
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    static func right(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }
}
