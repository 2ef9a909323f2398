import CDNNL

/// Keras's BatchNormalization (momentum 0.99, epsilon 1e-3). Training normalises with the batch
/// mean and biased variance, then moves the stored statistics toward them; inference uses the
/// stored statistics.
final class BatchNormalizationLayer: GraphLayer {
    static let epsilon: Float = 1e-3
    static let momentum: Float = 0.99

    let input: Activation
    let output: Activation
    private let gamma: ParameterTensor
    private let beta: ParameterTensor
    private let forward: PrimitiveDescriptor
    private let batchMean: DNNLMemory?
    private let batchVariance: DNNLMemory?
    private static let flags = dnnl_use_scale.rawValue | dnnl_use_shift.rawValue

    init(graph: NetworkGraph, input: Activation, gamma: ParameterTensor, beta: ParameterTensor,
         movingMean: ParameterTensor, movingVariance: ParameterTensor) throws {
        forward = try Self.forwardDescriptor(input: input, training: graph.training, engine: graph.engine, name: gamma.name)
        self.input = input
        self.gamma = gamma
        self.beta = beta
        output = try graph.activation(input.descriptor)
        let vector = try MemoryDescriptor(dims: [input.channels], tag: dnnl_x)
        let scale = try graph.weights(gamma, as: vector)
        let shift = try graph.weights(beta, as: vector)
        let storedMean = try graph.weights(movingMean, as: vector)
        let storedVariance = try graph.weights(movingVariance, as: vector)
        var bindings: [(Int32, DNNLMemory)] = [
            (ExecutionArgument.source, input.value), (ExecutionArgument.destination, output.value),
            (ExecutionArgument.scale, scale), (ExecutionArgument.shift, shift),
        ]
        if graph.training {
            let mean = try DNNLMemory(vector, engine: graph.engine)
            let variance = try DNNLMemory(vector, engine: graph.engine)
            batchMean = mean
            batchVariance = variance
            let inference = try Self.forwardDescriptor(input: input, training: false, engine: graph.engine, name: gamma.name)
            let evaluation = try PrimitiveCall(inference, bindings + [(ExecutionArgument.mean, storedMean),
                                                                      (ExecutionArgument.variance, storedVariance)])
            bindings += [(ExecutionArgument.mean, mean), (ExecutionArgument.variance, variance)]
            graph.append(training: .primitive(try PrimitiveCall(forward, bindings)), evaluation: .primitive(evaluation))
            graph.append(training: .host {
                Self.moveAverage(storedMean.floats, toward: mean.floats)
                Self.moveAverage(storedVariance.floats, toward: variance.floats)
                movingMean.markChanged()
                movingVariance.markChanged()
            }, evaluation: nil)
        } else {
            batchMean = nil
            batchVariance = nil
            bindings += [(ExecutionArgument.mean, storedMean), (ExecutionArgument.variance, storedVariance)]
            graph.append(try PrimitiveCall(forward, bindings))
        }
        graph.add(self)
    }

    /// Training mode normalises with the batch's statistics and returns them; inference mode
    /// reads the stored ones.
    private static func forwardDescriptor(input: Activation, training: Bool, engine: DNNLEngine, name: String) throws -> PrimitiveDescriptor {
        var data = input.descriptor.raw
        var operation = dnnl_batch_normalization_desc_t()
        let kind = training ? dnnl_forward_training : dnnl_forward_inference
        let modeFlags = training ? flags : flags | dnnl_use_global_stats.rawValue
        try check(dnnl_batch_normalization_forward_desc_init(&operation, kind, &data, epsilon, modeFlags),
                  "batch_normalization_forward_desc_init \(name)")
        return try PrimitiveDescriptor(operation: operation, engine: engine, what: "batch normalization forward \(name)")
    }

    private static func moveAverage(_ stored: UnsafeMutableBufferPointer<Float>, toward batch: UnsafeMutableBufferPointer<Float>) {
        for i in 0..<min(stored.count, batch.count) {
            stored[i] = stored[i] * momentum + batch[i] * (1 - momentum)
        }
    }

    func backwardSteps(in graph: NetworkGraph) throws -> [GraphStep] {
        guard let batchMean, let batchVariance else { return [] }
        var diffData = output.descriptor.raw
        var data = input.descriptor.raw
        var operation = dnnl_batch_normalization_desc_t()
        try check(dnnl_batch_normalization_backward_desc_init(&operation, dnnl_backward, &diffData, &data, Self.epsilon, Self.flags),
                  "batch_normalization_backward_desc_init \(gamma.name)")
        let backward = try PrimitiveDescriptor(operation: operation, hint: forward, engine: graph.engine,
                                               what: "batch normalization backward \(gamma.name)")
        let vector = try MemoryDescriptor(dims: [input.channels], tag: dnnl_x)
        let scale = try graph.weights(gamma, as: vector)
        // oneDNN 2.6 counts the shift among backward's inputs although it does not read it.
        let shift = try graph.weights(beta, as: vector)
        let gammaGradient = try graph.weightGradient(gamma, as: vector)
        let betaGradient = try graph.weightGradient(beta, as: vector)
        let sink = try graph.gradientSink(for: input)
        return [.primitive(try PrimitiveCall(backward, [
            (ExecutionArgument.source, input.value), (ExecutionArgument.mean, batchMean), (ExecutionArgument.variance, batchVariance),
            (ExecutionArgument.scale, scale), (ExecutionArgument.shift, shift), (ExecutionArgument.diffDestination, try graph.gradient(of: output)),
            (ExecutionArgument.diffSource, sink.memory), (ExecutionArgument.diffScale, gammaGradient.memory),
            (ExecutionArgument.diffShift, betaGradient.memory),
        ]))] + sink.then + gammaGradient.then + betaGradient.then
    }
}
