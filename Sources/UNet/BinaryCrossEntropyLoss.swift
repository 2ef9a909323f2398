import Foundation
import CDNNL

/// The network's end: logits copied out to channel-last host order and, in training, the
/// class-weighted binary cross-entropy from logits, Σ_c w_c · mean over non-ignored pixels of
/// max(z,0) − z·y + log(1 + exp(−|z|)), with its gradient w_c/M · (σ(z) − y) sent back.
final class BinaryCrossEntropyLoss: GraphLayer {
    let logits: Activation
    /// Logits in NHWC order, valid after a forward run.
    let hostLogits: DNNLMemory
    private let hostGradient: DNNLMemory?
    private let classWeights: [Float]
    /// NHWC targets in {0, 1} and per-pixel ignore flags (1 = ignore), set before a training run.
    var targets: [Float] = []
    var ignore: [Float]?
    private(set) var loss: Float = 0

    init(graph: NetworkGraph, logits: Activation, classWeights: [Double]) throws {
        self.logits = logits
        self.classWeights = classWeights.map(Float.init)
        let plain = try MemoryDescriptor.nhwc(logits.batch, logits.channels, logits.height, logits.width)
        hostLogits = try DNNLMemory(plain, engine: graph.engine)
        graph.append(try PrimitiveCall.reorder(from: logits.value, to: hostLogits, engine: graph.engine))
        if graph.training {
            let gradient = try DNNLMemory(plain, engine: graph.engine)
            hostGradient = gradient
            graph.append(training: .host { [unowned self] in try self.evaluate(gradient.floats) }, evaluation: nil)
        } else {
            hostGradient = nil
        }
        graph.add(self)
    }

    private func evaluate(_ gradient: UnsafeMutableBufferPointer<Float>) throws {
        // A training-mode forward pass without targets (no loss wanted).
        guard !targets.isEmpty else {
            loss = 0
            return
        }
        let z = hostLogits.floats
        let classes = logits.channels
        let pixels = z.count / classes
        guard targets.count == z.count else { throw UNetError("targets have \(targets.count) values, expected \(z.count)") }
        if let ignore, ignore.count != pixels { throw UNetError("ignore mask has \(ignore.count) values, expected \(pixels)") }
        let counted = ignore.map { mask in mask.reduce(0) { $0 + ($1 != 0 ? 0 : 1) } } ?? pixels
        guard counted > 0 else {
            gradient.update(repeating: 0)
            loss = 0
            return
        }
        let perPixel = classWeights.map { $0 / Float(counted) }
        var total = 0.0
        targets.withUnsafeBufferPointer { y in
            perPixel.withUnsafeBufferPointer { weight in
                for p in 0..<pixels {
                    let skip = ignore.map { $0[p] != 0 } ?? false
                    for c in 0..<classes {
                        let i = p * classes + c
                        if skip {
                            gradient[i] = 0
                            continue
                        }
                        let logit = z[i]
                        let term = max(logit, 0) - logit * y[i] + log1p(exp(-abs(logit)))
                        total += Double(weight[c] * term)
                        let probability = 1 / (1 + exp(-logit))
                        gradient[i] = weight[c] * (probability - y[i])
                    }
                }
            }
        }
        loss = Float(total)
    }

    func backwardSteps(in graph: NetworkGraph) throws -> [GraphStep] {
        guard let hostGradient else { return [] }
        let sink = try graph.gradientSink(for: logits)
        return [.primitive(try PrimitiveCall.reorder(from: hostGradient, to: sink.memory, engine: graph.engine))] + sink.then
    }
}
