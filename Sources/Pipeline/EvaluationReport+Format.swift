extension EvaluationReport {
    /// The report for a person: one line per scene, the total's class table and matrix, and the
    /// failures, one line each.
    public var table: String {
        var lines: [String] = []
        if !scenes.isEmpty {
            let names = scenes.map { TerminalText.line($0.scene) }
            let width = max(5, names.map(\.count).max() ?? 0)
            lines.append(ConfusionMatrix.pad("scene", width) + "  mean IoU  pixel accuracy     evaluated     ignored")
            for (scene, name) in zip(scenes, names) {
                let o = scene.matrix.overall
                lines.append(ConfusionMatrix.pad(name, width) + "  "
                    + ConfusionMatrix.right(ConfusionMatrix.score(o.meanIoU), 8) + "  "
                    + ConfusionMatrix.right(ConfusionMatrix.score(o.pixelAccuracy), 14) + "  "
                    + ConfusionMatrix.right(String(o.evaluatedPixels), 12) + "  "
                    + ConfusionMatrix.right(String(o.ignoredPixels), 10))
            }
            lines.append("")
        }
        lines.append("total over \(scenes.count) scene\(scenes.count == 1 ? "" : "s"):")
        lines.append(total.table(legend: legend))
        if !failures.isEmpty {
            lines.append("")
            lines.append("\(failures.count) scene\(failures.count == 1 ? "" : "s") failed:")
            for failure in failures { lines.append("  " + TerminalText.line(failure.message)) }
        }
        return lines.joined(separator: "\n")
    }

    /// The report as JSON: `classes` (id and name, the order of every matrix's rows and
    /// columns), `scenes` (scene, prediction, truth and `ConfusionMatrix.json(legend:)`'s members),
    /// `total` (the number of scenes and the same members) and `failures` (scene, prediction,
    /// truth or null, error).
    public var json: JSONValue {
        let sum = total
        let ids = sum.legendIDs(legend)
        return .object([
            ("classes", .array(ids.map { id in
                .object([("id", JSONValue(id)), ("name", .string(legend.entry(id: UInt8(id))?.name ?? "class \(id)"))])
            })),
            ("scenes", .array(scenes.map { scene in
                .object([
                    ("scene", .string(scene.scene)),
                    ("prediction", .string(scene.predictionPath)),
                    ("truth", .string(scene.truthPath)),
                ] + scene.matrix.jsonMembers(legend: legend))
            })),
            ("total", .object([("scenes", JSONValue(scenes.count))] + sum.jsonMembers(legend: legend))),
            ("failures", .array(failures.map { failure in
                .object([
                    ("scene", .string(failure.scene)),
                    ("prediction", .string(failure.predictionPath)),
                    ("truth", failure.truthPath.map(JSONValue.string) ?? .null),
                    ("error", .string(failure.message)),
                ])
            })),
        ])
    }
}
