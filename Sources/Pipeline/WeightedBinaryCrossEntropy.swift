#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// UNET.md's loss, Σ_c w_c · mean over labelled pixels of the binary cross-entropy, computed
/// from probabilities (for validation, where the network returns sigmoid outputs): the logit is
/// recovered as log(p / (1 − p)) with p kept inside [1e−7, 1 − 1e−7].
public enum WeightedBinaryCrossEntropy {
    /// The loss of one batch; 0 when no pixel is labelled.
    public static func loss(probabilities: [Float], targets: [Float], ignore: [Float], classWeights: [Double]) -> Double {
        var sums = Sums(classes: classWeights.count)
        sums.add(probabilities: probabilities, targets: targets, ignore: ignore)
        return sums.loss(classWeights: classWeights) ?? 0
    }

    /// Per-class sums over the labelled pixels of several batches, so that a loss over a whole
    /// validation set weighs every labelled pixel alike, however the batches fall.
    public struct Sums: Sendable {
        public private(set) var perClass: [Double]
        public private(set) var labelled = 0

        public init(classes: Int) {
            perClass = [Double](repeating: 0, count: classes)
        }

        public mutating func add(probabilities: [Float], targets: [Float], ignore: [Float]) {
            let classes = perClass.count
            for i in 0..<ignore.count where ignore[i] == 0 {
                labelled += 1
                for c in 0..<classes {
                    let p = min(max(Double(probabilities[i * classes + c]), 1e-7), 1 - 1e-7)
                    let z = log(p / (1 - p)), y = Double(targets[i * classes + c])
                    perClass[c] += max(z, 0) - z * y + log(1 + exp(-abs(z)))
                }
            }
        }

        /// Σ_c w_c · mean binary cross-entropy of class c; nil when no pixel was labelled.
        public func loss(classWeights: [Double]) -> Double? {
            guard labelled > 0 else { return nil }
            return zip(classWeights, perClass).reduce(0) { $0 + $1.0 * $1.1 / Double(labelled) }
        }
    }
}
