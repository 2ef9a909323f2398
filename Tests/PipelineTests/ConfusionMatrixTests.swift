import Foundation
import Raster
import Testing
@testable import Pipeline

/// truth = [0,0,0,0,1,1,2,2], prediction = [0,0,1,1,1,2,2,2]: rows [[2,2,0],[0,1,1],[0,0,2]].
private func handMatrix() throws -> ConfusionMatrix {
    var matrix = ConfusionMatrix(classCount: 3)
    try matrix.add(truth: [0, 0, 0, 0, 1, 1, 2, 2], prediction: [0, 0, 1, 1, 1, 2, 2, 2])
    return matrix
}

private func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) < 1e-12 }

@Test func countsLandInTruthRowsAndPredictionColumns() throws {
    let matrix = try handMatrix()
    #expect(matrix.rows == [[2, 2, 0], [0, 1, 1], [0, 0, 2]])
    #expect(matrix[0, 1] == 2)
    #expect(matrix[1, 0] == 0)
    #expect(matrix.evaluatedPixels == 8)
    #expect(matrix.ignoredPixels == 0)
}

@Test func perClassScoresMatchHandComputedValues() throws {
    let m = try handMatrix()
    // Class 0: TP 2, FP 0, FN 2.
    let c0 = m.metrics(of: 0)
    #expect(c0.truePositives == 2 && c0.falsePositives == 0 && c0.falseNegatives == 2)
    #expect(c0.iou == 0.5)
    #expect(close(c0.f1, 2.0 / 3.0))
    #expect(c0.precision == 1)
    #expect(c0.recall == 0.5)
    #expect(c0.support == 4)
    // Class 1: TP 1, FP 2, FN 1.
    let c1 = m.metrics(of: 1)
    #expect(c1.iou == 0.25)
    #expect(close(c1.f1, 0.4))
    #expect(close(c1.precision, 1.0 / 3.0))
    #expect(c1.recall == 0.5)
    #expect(c1.support == 2 && c1.predicted == 3)
    // Class 2: TP 2, FP 1, FN 0.
    let c2 = m.metrics(of: 2)
    #expect(close(c2.iou, 2.0 / 3.0))
    #expect(close(c2.f1, 0.8))
    #expect(close(c2.precision, 2.0 / 3.0))
    #expect(c2.recall == 1)
    #expect(m.iou(classID: 1) == 0.25)
}

@Test func overallScoresMatchHandComputedValues() throws {
    let o = try handMatrix().overall
    #expect(o.pixelAccuracy == 0.625)
    #expect(close(o.meanIoU, 17.0 / 36.0))
    #expect(close(o.meanF1, 28.0 / 45.0))
    // (4 × 1/2 + 2 × 1/4 + 2 × 2/3) / 8
    #expect(close(o.frequencyWeightedIoU, 23.0 / 48.0))
    #expect(o.presentClasses == 3)
    #expect(o.evaluatedPixels == 8)
}

@Test func unlabelledTruthAndNodataPredictionAreIgnored() throws {
    var matrix = ConfusionMatrix(classCount: 2)
    try matrix.add(truth: [255, 0, 1, 255, 1], prediction: [1, 255, 1, 255, 0])
    #expect(matrix.rows == [[0, 0], [1, 1]])
    #expect(matrix.ignoredPixels == 3)
    #expect(matrix.evaluatedPixels == 2)
    #expect(matrix.overall.ignoredPixels == 3)
}

@Test func idsOutsideTheMatrixAreErrorsNamingTheIdAndLeaveItUnchanged() throws {
    var matrix = ConfusionMatrix(classCount: 6)
    try matrix.add(truth: [1, 2], prediction: [1, 3])
    let before = matrix

    let truthError = #expect(throws: ConfusionMatrixError.self) {
        try matrix.add(truth: [0, 1, 6], prediction: [0, 1, 1])
    }
    #expect(truthError?.id == 6)
    #expect(truthError?.index == 2)
    #expect(truthError?.description.contains("truth id 6") == true)
    #expect(matrix == before)

    let predictionError = #expect(throws: ConfusionMatrixError.self) {
        try matrix.add(truth: [0, 0], prediction: [5, 9])
    }
    #expect(predictionError?.id == 9)
    #expect(predictionError?.description.contains("predicted id 9") == true)
    #expect(matrix == before)

    // A bad truth id is an error even where the prediction is nodata.
    #expect(throws: ConfusionMatrixError.self) { try matrix.add(truth: [7], prediction: [255]) }
    #expect(throws: ConfusionMatrixError.self) { try matrix.add(truth: [0, 1], prediction: [0]) }
    #expect(matrix == before)
}

@Test func classesAbsentFromTruthAndPredictionScoreNaNAndAreLeftOutOfMeans() throws {
    var matrix = ConfusionMatrix(classCount: 4)
    // Class 2 is only in the truth (never predicted), class 3 nowhere.
    try matrix.add(truth: [0, 0, 1, 2], prediction: [0, 0, 1, 0])
    let absent = matrix.metrics(of: 3)
    #expect(!absent.isPresent)
    #expect(absent.iou.isNaN && absent.f1.isNaN && absent.precision.isNaN && absent.recall.isNaN)

    let missed = matrix.metrics(of: 2)
    #expect(missed.isPresent)
    #expect(missed.iou == 0 && missed.f1 == 0 && missed.recall == 0)
    #expect(missed.precision.isNaN)

    let o = matrix.overall
    #expect(o.presentClasses == 3)
    // Class 0: TP 2, FP 1 → IoU 2/3; class 1: 1; class 2: 0.
    #expect(close(o.meanIoU, (2.0 / 3.0 + 1 + 0) / 3))
    #expect(close(o.meanF1, (0.8 + 1 + 0) / 3))

    let json = matrix.json(legend: ClassLegend.generic(classCount: 3)).serialized
    #expect(json.contains(#""class3": {"id": 3, "iou": null, "f1": null, "precision": null, "recall": null, "support": 0, "predicted": 0}"#))
    #expect(json.contains(#""class2": {"id": 2, "iou": 0, "f1": 0, "precision": null, "recall": 0, "support": 1, "predicted": 0}"#))
}

@Test func anEmptyMatrixHasNoDefinedScores() {
    let o = ConfusionMatrix(classCount: 6).overall
    #expect(o.pixelAccuracy.isNaN && o.meanIoU.isNaN && o.meanF1.isNaN && o.frequencyWeightedIoU.isNaN)
    #expect(o.presentClasses == 0)
}

@Test func mergingEqualsCountingEverythingInOneMatrix() throws {
    let truthA: [UInt8] = [0, 1, 2, 255, 1], predA: [UInt8] = [0, 2, 2, 1, 1]
    let truthB: [UInt8] = [2, 2, 0, 1], predB: [UInt8] = [2, 0, 255, 1]
    var a = ConfusionMatrix(classCount: 3), b = ConfusionMatrix(classCount: 3), all = ConfusionMatrix(classCount: 3)
    try a.add(truth: truthA, prediction: predA)
    try b.add(truth: truthB, prediction: predB)
    try all.add(truth: truthA + truthB, prediction: predA + predB)
    #expect(a + b == all)
    #expect((a + b).ignoredPixels == 2)
    var merged = a
    try merged.merge(b)
    #expect(merged == all)
    var summed = a
    summed += b
    #expect(summed == all)

    // A smaller matrix widens: its ids are a subset of the larger one's.
    var small = ConfusionMatrix(classCount: 2)
    try small.add(truth: [1], prediction: [0])
    let wide = small + a
    #expect(wide.classCount == 3)
    #expect(wide[1, 0] == a[1, 0] + 1)
    #expect(wide.evaluatedPixels == a.evaluatedPixels + 1)
    #expect(throws: ConfusionMatrixError.self) { try small.merge(a) }
}

@Test func rowsInitialiserAndCodableValidateTheShape() throws {
    let matrix = try ConfusionMatrix(rows: [[2, 2, 0], [0, 1, 1], [0, 0, 2]], ignoredPixels: 4)
    var expected = try handMatrix()
    try expected.add(truth: [255, 255, 1, 255], prediction: [255, 0, 255, 255])
    #expect(matrix == expected)

    let data = try JSONEncoder().encode(matrix)
    #expect(try JSONDecoder().decode(ConfusionMatrix.self, from: data) == matrix)

    #expect(throws: ConfusionMatrixError.self) { try ConfusionMatrix(rows: [[1, 2], [3]]) }
    #expect(throws: ConfusionMatrixError.self) { try ConfusionMatrix(rows: [[1, -2], [3, 4]]) }
    #expect(throws: ConfusionMatrixError.self) { try ConfusionMatrix(rows: []) }
    let ragged = Data(#"{"rows": [[1, 2], [3]], "ignoredPixels": 0}"#.utf8)
    #expect(throws: DecodingError.self) { try JSONDecoder().decode(ConfusionMatrix.self, from: ragged) }
}

@Test func matrixSizeFollowsTheLegend() throws {
    #expect(ConfusionMatrix(legend: .default).classCount == 6)
    let gappy = try ClassLegend(classes: [
        .init(id: 0, name: "background", color: .init(0, 0, 0)),
        .init(id: 3, name: "water", color: .init(0, 0, 255)),
    ])
    var matrix = ConfusionMatrix(legend: gappy)
    #expect(matrix.classCount == 4)
    try matrix.add(truth: [0, 3, 3], prediction: [3, 3, 0])
    // The report covers the legend's ids only.
    let json = matrix.json(legend: gappy).serialized
    #expect(json.contains(#""confusionMatrix": [[0, 1], [1, 1]]"#))
}
