#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// UNET.md's loss, Σ_c w_c · mean over labelled pixels of the binary cross-entropy, computed
/// from probabilities (for validation, where the network returns sigmoid outputs): the logit is
/// recovered as log(p / (1 − p)) with p kept inside [1e−7, 1 − 1e−7].
public enum WeightedBinaryCrossEntropy {
    public static func loss(probabilities: [Float], targets: [Float], ignore: [Float], classWeights: [Double]) -> Double {
        let classes = classWeights.count
        let pixels = ignore.count
        var sums = [Double](repeating: 0, count: classes)
        var labelled = 0
        for i in 0..<pixels where ignore[i] == 0 {
            labelled += 1
            for c in 0..<classes {
                let p = min(max(Double(probabilities[i * classes + c]), 1e-7), 1 - 1e-7)
                let z = log(p / (1 - p)), y = Double(targets[i * classes + c])
                sums[c] += max(z, 0) - z * y + log(1 + exp(-abs(z)))
            }
        }
        guard labelled > 0 else { return 0 }
        return (0..<classes).reduce(0) { $0 + classWeights[$1] * sums[$1] / Double(labelled) }
    }
}
