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
        var chunks: [AdamChunk] = []
        for parameter in parameters where parameter.trainable {
            guard let weights = parameter.master?.floats, let gradient = parameter.gradient?.floats,
                  let m = parameter.firstMoment?.floats, let v = parameter.secondMoment?.floats,
                  let w = weights.baseAddress, let g = gradient.baseAddress, let mp = m.baseAddress, let vp = v.baseAddress else { continue }
            let count = min(weights.count, gradient.count, m.count, v.count)
            parameter.markChanged()
            for start in stride(from: 0, to: count, by: AdamChunk.size) {
                chunks.append(AdamChunk(weights: w + start, gradient: g + start, m: mp + start, v: vp + start,
                                        count: min(AdamChunk.size, count - start)))
            }
        }
        let (beta1, beta2, epsilon) = (self.beta1, self.beta2, self.epsilon)
        let work = chunks
        // The stream is idle here, so the update may use every core.
        DispatchQueue.concurrentPerform(iterations: chunks.count) { index in
            work[index].apply(alpha: alpha, beta1: beta1, beta2: beta2, epsilon: epsilon)
        }
    }
}

/// A slice of one parameter's master weights, gradient and moments, updated by one thread.
/// `@unchecked Sendable`: every chunk covers a disjoint range of buffers that the parameter
/// tensors keep alive for the whole (synchronous) update, so threads never share an element.
private struct AdamChunk: @unchecked Sendable {
    static let size = 1 << 16
    let weights: UnsafeMutablePointer<Float>
    let gradient: UnsafeMutablePointer<Float>
    let m: UnsafeMutablePointer<Float>
    let v: UnsafeMutablePointer<Float>
    let count: Int

    func apply(alpha: Float, beta1: Float, beta2: Float, epsilon: Float) {
        let oneMinusBeta1 = 1 - beta1
        let oneMinusBeta2 = 1 - beta2
        for i in 0..<count {
            let g = gradient[i]
            let mi = m[i] + (g - m[i]) * oneMinusBeta1
            let vi = v[i] + (g * g - v[i]) * oneMinusBeta2
            m[i] = mi
            v[i] = vi
            weights[i] -= alpha * mi / (vi.squareRoot() + epsilon)
        }
    }
}
