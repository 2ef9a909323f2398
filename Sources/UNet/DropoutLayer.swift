/// Inverted dropout for training graphs: each element is kept with probability 1 − rate and
/// scaled by 1/(1 − rate), else zeroed. The mask is drawn from the model's seeded generator and
/// kept for the backward pass. Inference graphs do not contain this layer; a training graph's
/// evaluation run copies its input through.
final class DropoutLayer: GraphLayer {
    let input: Activation
    let output: Activation
    private let mask: UnsafeMutableBufferPointer<Float>

    init(graph: NetworkGraph, input: Activation, rate: Double) throws {
        self.input = input
        output = try graph.activation(input.descriptor)
        let count = input.value.floats.count
        let mask = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
        mask.initialize(repeating: 0)
        self.mask = mask
        let generator = graph.dropoutGenerator
        let source = input.value.floats
        let destination = output.value.floats
        // Keep when a uniform 24-bit draw is at least rate·2^24.
        let threshold = UInt64((rate * Double(1 << 24)).rounded())
        let kept = Float(1 / (1 - rate))
        graph.append(training: .host {
            for i in 0..<count {
                let draw = generator.next() >> 40
                let scale: Float = draw >= threshold ? kept : 0
                mask[i] = scale
                destination[i] = source[i] * scale
            }
        }, evaluation: .host {
            UnsafeMutableRawBufferPointer(destination).copyMemory(from: UnsafeRawBufferPointer(source))
        })
        graph.add(self)
    }

    func backwardSteps(in graph: NetworkGraph) throws -> [GraphStep] {
        guard input.needsGradient else { return [] }
        let outputGradient = try graph.gradient(of: output).floats
        let sink = try graph.gradientSink(for: input)
        let target = sink.memory.floats
        let mask = self.mask
        return [.host {
            for i in 0..<target.count { target[i] = outputGradient[i] * mask[i] }
        }] + sink.then
    }

    deinit {
        mask.deallocate()
    }
}
