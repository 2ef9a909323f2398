import Raster

/// Pixel counts of a segmentation against its ground truth: `self[truth, prediction]` is the
/// number of pixels of class `truth` that were predicted as `prediction`, over the class ids
/// `0 ..< classCount` (background included).
///
/// Pixels whose truth is `ClassLegend.ignoreValue` ("no label") or whose prediction is that value
/// (nodata) are left out of the matrix and counted in `ignoredPixels`.
public struct ConfusionMatrix: Sendable, Equatable {
    /// The number of class ids, background included: ids run `0 ..< classCount`.
    public let classCount: Int
    /// Row-major counts: `counts[truth * classCount + prediction]`.
    public private(set) var counts: [Int]
    /// Pixels left out because the truth is unlabelled or the prediction is nodata.
    public private(set) var ignoredPixels: Int

    /// The largest class count: ids are bytes and 255 is reserved for "no label".
    public static let maximumClassCount = Int(ClassLegend.ignoreValue)

    /// An empty matrix over ids `0 ..< classCount`; `classCount` is clamped to 1...255.
    public init(classCount: Int) {
        let count = min(max(classCount, 1), Self.maximumClassCount)
        self.classCount = count
        counts = [Int](repeating: 0, count: count * count)
        ignoredPixels = 0
    }

    /// An empty matrix for the ids of `legend` (`0 ... legend.maximumID`).
    public init(legend: ClassLegend) {
        self.init(classCount: Int(legend.maximumID) + 1)
    }

    /// A matrix with the given counts, rows = truth; every row must have `rows.count` entries and
    /// every count must be non-negative.
    public init(rows: [[Int]], ignoredPixels: Int = 0) throws(ConfusionMatrixError) {
        let n = rows.count
        guard (1...Self.maximumClassCount).contains(n) else {
            throw ConfusionMatrixError("a confusion matrix needs 1–\(Self.maximumClassCount) rows, got \(n)")
        }
        for (index, row) in rows.enumerated() where row.count != n {
            throw ConfusionMatrixError("row \(index) has \(row.count) counts, expected \(n)")
        }
        let flat = rows.flatMap { $0 }
        guard flat.allSatisfy({ $0 >= 0 }), ignoredPixels >= 0 else {
            throw ConfusionMatrixError("counts must not be negative")
        }
        classCount = n
        counts = flat
        self.ignoredPixels = ignoredPixels
    }

    /// The number of pixels of class `truth` predicted as `prediction`.
    public subscript(truth: Int, prediction: Int) -> Int {
        counts[truth * classCount + prediction]
    }

    /// The counts as rows (truth) of columns (prediction).
    public var rows: [[Int]] {
        (0..<classCount).map { Array(counts[($0 * classCount)..<(($0 + 1) * classCount)]) }
    }

    /// Pixels counted in the matrix (ignored pixels excluded).
    public var evaluatedPixels: Int { counts.reduce(0, +) }

    /// Counts every pixel pair `(truth[i], prediction[i])`. Throws, without changing the matrix,
    /// when the buffers differ in length or an id is `classCount` or more (other than the ignore
    /// value); the error names the id and its index.
    public mutating func add(truth: UnsafeBufferPointer<UInt8>,
                             prediction: UnsafeBufferPointer<UInt8>) throws(ConfusionMatrixError) {
        guard truth.count == prediction.count else {
            throw ConfusionMatrixError("\(truth.count) truth ids but \(prediction.count) predicted ids")
        }
        let n = classCount
        let ignore = ClassLegend.ignoreValue
        var ignored = 0
        var bad: (index: Int, truth: UInt8, prediction: UInt8)?
        counts.withUnsafeMutableBufferPointer { cells in
            for i in 0..<truth.count {
                let t = Int(truth[i]), p = Int(prediction[i])
                // One test per id on the common path: the ignore value, 255, is never below n.
                if t < n && p < n {
                    cells[t &* n &+ p] &+= 1
                } else if (t >= n && t != Int(ignore)) || (p >= n && p != Int(ignore)) {
                    bad = (i, truth[i], prediction[i])
                    // Undo this call's counts so a failed add leaves the matrix as it was.
                    for j in 0..<i where Int(truth[j]) < n && Int(prediction[j]) < n {
                        cells[Int(truth[j]) &* n &+ Int(prediction[j])] &-= 1
                    }
                    return
                } else {
                    ignored += 1
                }
            }
        }
        if let bad {
            if Int(bad.truth) >= n && bad.truth != ignore {
                throw ConfusionMatrixError(truthID: bad.truth, index: bad.index, classCount: n)
            }
            throw ConfusionMatrixError(predictedID: bad.prediction, index: bad.index, classCount: n)
        }
        ignoredPixels += ignored
    }

    /// Array form of `add(truth:prediction:)`.
    public mutating func add(truth: [UInt8], prediction: [UInt8]) throws(ConfusionMatrixError) {
        // The typed throw cannot pass through withUnsafeBufferPointer's rethrows, so carry it out.
        var failure: ConfusionMatrixError?
        truth.withUnsafeBufferPointer { t in
            prediction.withUnsafeBufferPointer { p in
                do throws(ConfusionMatrixError) { try add(truth: t, prediction: p) } catch { failure = error }
            }
        }
        if let failure { throw failure }
    }

    /// Adds the counts of `other`, which must have the same class count.
    public mutating func merge(_ other: ConfusionMatrix) throws(ConfusionMatrixError) {
        guard other.classCount == classCount else {
            throw ConfusionMatrixError(
                "cannot merge a \(other.classCount)-class matrix into a \(classCount)-class one")
        }
        for i in counts.indices { counts[i] += other.counts[i] }
        ignoredPixels += other.ignoredPixels
    }

    /// The sum of two matrices; when their class counts differ the smaller is widened with
    /// empty rows and columns, since its ids are a subset of the larger one's.
    public static func + (lhs: ConfusionMatrix, rhs: ConfusionMatrix) -> ConfusionMatrix {
        let n = max(lhs.classCount, rhs.classCount)
        var sum = ConfusionMatrix(classCount: n)
        for source in [lhs, rhs] {
            let m = source.classCount
            for t in 0..<m {
                for p in 0..<m { sum.counts[t * n + p] += source.counts[t * m + p] }
            }
            sum.ignoredPixels += source.ignoredPixels
        }
        return sum
    }

    public static func += (lhs: inout ConfusionMatrix, rhs: ConfusionMatrix) {
        lhs = lhs + rhs
    }

    // MARK: Metrics

    /// Truth pixels of class `id`: its row sum.
    public func support(of id: Int) -> Int {
        var sum = 0
        for p in 0..<classCount { sum += self[id, p] }
        return sum
    }

    /// Pixels predicted as class `id`: its column sum.
    public func predicted(as id: Int) -> Int {
        var sum = 0
        for t in 0..<classCount { sum += self[t, id] }
        return sum
    }

    /// IoU, F1, precision, recall and support of class `id`.
    public func metrics(of id: Int) -> ClassMetrics {
        ClassMetrics(id: id, truePositives: self[id, id], support: support(of: id), predicted: predicted(as: id))
    }

    /// The IoU of class `id`, NaN when it is neither in the truth nor in the prediction.
    public func iou(classID id: Int) -> Double { metrics(of: id).iou }

    /// The metrics of every id `0 ..< classCount`.
    public var classMetrics: [ClassMetrics] { (0..<classCount).map(metrics(of:)) }

    /// Pixel accuracy, mean IoU, mean F1 and frequency-weighted IoU over all ids.
    public var overall: OverallMetrics { OverallMetrics(self) }
}

extension ConfusionMatrix: Codable {
    private enum CodingKeys: String, CodingKey { case rows, ignoredPixels }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let rows = try container.decode([[Int]].self, forKey: .rows)
        let ignored = try container.decode(Int.self, forKey: .ignoredPixels)
        do {
            try self.init(rows: rows, ignoredPixels: ignored)
        } catch {
            throw DecodingError.dataCorruptedError(forKey: .rows, in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(rows, forKey: .rows)
        try container.encode(ignoredPixels, forKey: .ignoredPixels)
    }
}
