import Raster

extension ConfusionMatrix {
    /// The matrix and its scores as JSON, classes named by `legend`:
    /// `classes` (per class name: id, iou, f1, precision, recall, support, predicted), `overall`
    /// (pixelAccuracy, meanIoU, meanF1, frequencyWeightedIoU, presentClasses, evaluatedPixels),
    /// `confusionMatrix` (rows = truth, columns = prediction, both in the legend's id order; ids
    /// the legend lacks are left out) and `ignoredPixels`. Undefined scores are `null`.
    public func json(legend: ClassLegend) -> JSONValue {
        .object(jsonMembers(legend: legend))
    }

    /// The members of `json(legend:)`, for reports that add their own around them.
    func jsonMembers(legend: ClassLegend) -> [(String, JSONValue)] {
        let ids = legendIDs(legend)
        let classes: [(String, JSONValue)] = ids.map { id in
            let m = metrics(of: id)
            let name = legend.entry(id: UInt8(id))?.name ?? "class \(id)"
            return (name, .object([
                ("id", JSONValue(id)),
                ("iou", JSONValue(m.iou)),
                ("f1", JSONValue(m.f1)),
                ("precision", JSONValue(m.precision)),
                ("recall", JSONValue(m.recall)),
                ("support", JSONValue(m.support)),
                ("predicted", JSONValue(m.predicted)),
            ]))
        }
        let o = overall
        return [
            ("classes", .object(classes)),
            ("overall", .object([
                ("pixelAccuracy", JSONValue(o.pixelAccuracy)),
                ("meanIoU", JSONValue(o.meanIoU)),
                ("meanF1", JSONValue(o.meanF1)),
                ("frequencyWeightedIoU", JSONValue(o.frequencyWeightedIoU)),
                ("presentClasses", JSONValue(o.presentClasses)),
                ("evaluatedPixels", JSONValue(o.evaluatedPixels)),
            ])),
            ("confusionMatrix", .array(ids.map { t in .array(ids.map { p in JSONValue(self[t, p]) }) })),
            ("ignoredPixels", JSONValue(ignoredPixels)),
        ]
    }

    /// The legend's ids that fall inside this matrix, ascending.
    func legendIDs(_ legend: ClassLegend) -> [Int] {
        legend.classes.map { Int($0.id) }.filter { $0 < classCount }
    }
}
