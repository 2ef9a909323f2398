import CDNNL
@testable import UNet

/// Runs single layers of a `NetworkGraph` on host data: inputs and gradients go in and come out
/// as NHWC Float64 arrays, while the layer works in the oneDNN layout the test asks for.
final class LayerHarness {
    let engine: DNNLEngine
    let graph: NetworkGraph

    init(training: Bool = true, dropoutState: UInt64 = 7) throws {
        engine = try DNNLEngine()
        graph = NetworkGraph(engine: engine, training: training, dropoutGenerator: DropoutGenerator(state: dropoutState))
    }

    /// An activation holding `values` (NHWC `shape`) in the layout `tag`.
    func input(_ values: [Double], _ shape: [Int], tag: dnnl_format_tag_t) throws -> Activation {
        let activation = try graph.activation(MemoryDescriptor(dims: [shape[0], shape[3], shape[1], shape[2]], tag: tag))
        try write(values, shape, into: activation.value)
        return activation
    }

    func write(_ values: [Double], _ shape: [Int], into memory: DNNLMemory) throws {
        let host = try DNNLMemory(.nhwc(shape[0], shape[3], shape[1], shape[2]), engine: engine)
        let floats = host.floats
        for i in values.indices { floats[i] = Float(values[i]) }
        try engine.reorder(host, into: memory)
    }

    func read(_ memory: DNNLMemory) throws -> [Double] {
        let dims = memory.descriptor.dims
        let host = try DNNLMemory(.nhwc(dims[0], dims[1], dims[2], dims[3]), engine: engine)
        try engine.reorder(memory, into: host)
        return host.floats.map(Double.init)
    }

    /// Sets the gradient arriving at `activation` (as if from a consumer) to `values`.
    func setGradient(_ values: [Double], of activation: Activation) throws {
        let shape = [activation.batch, activation.height, activation.width, activation.channels]
        try write(values, shape, into: graph.gradient(of: activation))
    }

    /// Builds the backward pass, runs the graph forward, sets the gradient arriving at `output`
    /// to `outputGradient` and runs it backward; `output`'s values after the forward pass.
    func forwardAndBackward(_ output: Activation, outputGradient: [Double]) throws -> [Double] {
        try graph.buildBackward()
        try graph.runForward()
        let values = try read(output.value)
        try setGradient(outputGradient, of: output)
        try graph.runBackward()
        return values
    }

    func gradient(of activation: Activation) throws -> [Double] {
        try read(graph.gradient(of: activation))
    }

    func parameter(_ name: String, _ shape: [Int], _ values: [Double], trainable: Bool = true) throws -> ParameterTensor {
        try ParameterTensor(name: name, kerasShape: shape, trainable: trainable, values: values.map(Float.init), engine: engine)
    }
}

/// Deterministic pseudo-random values in [-1, 1).
func randomValues(_ count: Int, seed: UInt64) -> [Double] {
    let generator = DropoutGenerator(state: seed)
    return (0..<count).map { _ in Double(generator.next() >> 11) / Double(1 << 52) - 1 }
}

/// max |a − b| / max |b|.
func relativeError(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count, "compared arrays differ in length: \(a.count) vs \(b.count)")
    let scale = b.map(abs).max() ?? 0
    let difference = zip(a, b).map { abs($0 - $1) }.max() ?? 0
    return difference / max(scale, 1e-12)
}

/// Central finite differences of `f` with respect to every element of `x`.
func finiteDifferences(of f: ([Double]) -> Double, at x: [Double], step: Double = 1e-5) -> [Double] {
    var probe = x
    return x.indices.map { i in
        probe[i] = x[i] + step
        let plus = f(probe)
        probe[i] = x[i] - step
        let minus = f(probe)
        probe[i] = x[i]
        return (plus - minus) / (2 * step)
    }
}

/// Σ y·r: a scalar whose gradient with respect to y is r, to test backward passes.
func projection(_ y: [Double], _ r: [Double]) -> Double {
    zip(y, r).reduce(0) { $0 + $1.0 * $1.1 }
}
