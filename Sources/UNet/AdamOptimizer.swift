import Foundation

/// Keras's Adam: at step t (from 1), α = lr·√(1−β2^t)/(1−β1^t), m += (g−m)(1−β1),
/// v += (g²−v)(1−β2), w −= α·m/(√v + ε). Runs elementwise over each parameter's master
/// buffer, whose gradient and moments share its layout.
struct AdamOptimizer {
    var learningRate: Float = 1e-3
    let beta1: Float = 0.9
    let beta2: Float = 0.999
    let epsilon: Float = 1e-7
    var step = 0

    mutating func update(_ parameters: [ParameterTensor]) {
        step += 1
        let t = Double(step)
        let alpha = Float(Double(learningRate) * (1 - pow(Double(beta2), t)).squareRoot() / (1 - pow(Double(beta1), t)))
        for parameter in parameters where parameter.trainable {
            guard let weights = parameter.master?.floats, let gradient = parameter.gradient?.floats,
                  let m = parameter.firstMoment?.floats, let v = parameter.secondMoment?.floats else { continue }
            Self.apply(weights: weights, gradient: gradient, m: m, v: v, alpha: alpha, beta1: beta1, beta2: beta2, epsilon: epsilon)
        }
    }

    private static func apply(weights: UnsafeMutableBufferPointer<Float>, gradient: UnsafeMutableBufferPointer<Float>,
                              m: UnsafeMutableBufferPointer<Float>, v: UnsafeMutableBufferPointer<Float>,
                              alpha: Float, beta1: Float, beta2: Float, epsilon: Float) {
        let count = min(weights.count, gradient.count, m.count, v.count)
        guard let w = weights.baseAddress, let g = gradient.baseAddress, let m = m.baseAddress, let v = v.baseAddress else { return }
        let oneMinusBeta1 = 1 - beta1
        let oneMinusBeta2 = 1 - beta2
        for i in 0..<count {
            let gi = g[i]
            let mi = m[i] + (gi - m[i]) * oneMinusBeta1
            let vi = v[i] + (gi * gi - v[i]) * oneMinusBeta2
            m[i] = mi
            v[i] = vi
            w[i] -= alpha * mi / (vi.squareRoot() + epsilon)
        }
    }
}
