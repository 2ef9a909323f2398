/// The scores of one class in a `ConfusionMatrix`.
///
/// A ratio whose denominator is zero is NaN (written as `null` in JSON), never 0 or 1: IoU and F1
/// are NaN only for a class that is neither in the truth nor in the prediction; precision is NaN
/// when nothing was predicted as the class, recall when the truth has none of it.
public struct ClassMetrics: Sendable, Equatable {
    public let id: Int
    /// Pixels of the class predicted as the class.
    public let truePositives: Int
    /// Truth pixels of the class (its row sum).
    public let support: Int
    /// Pixels predicted as the class (its column sum).
    public let predicted: Int

    public init(id: Int, truePositives: Int, support: Int, predicted: Int) {
        self.id = id
        self.truePositives = truePositives
        self.support = support
        self.predicted = predicted
    }

    /// Pixels predicted as the class whose truth is another class.
    public var falsePositives: Int { predicted - truePositives }
    /// Pixels of the class predicted as another class.
    public var falseNegatives: Int { support - truePositives }

    /// True when the class occurs in the truth or the prediction, i.e. IoU and F1 are defined.
    public var isPresent: Bool { support > 0 || predicted > 0 }

    /// TP / (TP + FP + FN).
    public var iou: Double { Self.ratio(truePositives, truePositives + falsePositives + falseNegatives) }
    /// 2 TP / (2 TP + FP + FN), the harmonic mean of precision and recall; 0 (not NaN) when the
    /// class is present but never predicted correctly.
    public var f1: Double { Self.ratio(2 * truePositives, 2 * truePositives + falsePositives + falseNegatives) }
    /// TP / (TP + FP).
    public var precision: Double { Self.ratio(truePositives, predicted) }
    /// TP / (TP + FN).
    public var recall: Double { Self.ratio(truePositives, support) }

    /// Equal for matrices with equal counts, so NaN scores do not make two equal results differ.
    public static func == (lhs: ClassMetrics, rhs: ClassMetrics) -> Bool {
        lhs.id == rhs.id && lhs.truePositives == rhs.truePositives && lhs.support == rhs.support
            && lhs.predicted == rhs.predicted
    }

    static func ratio(_ numerator: Int, _ denominator: Int) -> Double {
        denominator == 0 ? .nan : Double(numerator) / Double(denominator)
    }
}
