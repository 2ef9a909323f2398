import CDNNL

/// Keras's UpSampling2D ×2 (nearest): every pixel repeated 2×2, channels unchanged.
final class NearestUpsamplingLayer: GraphLayer {
    let input: Activation
    let output: Activation
    private let forward: PrimitiveDescriptor

    init(graph: NetworkGraph, input: Activation) throws {
        var src = input.descriptor.raw
        var dst = try MemoryDescriptor.any([input.batch, input.channels, input.height * 2, input.width * 2]).raw
        var operation = dnnl_resampling_desc_t()
        let kind = graph.training ? dnnl_forward_training : dnnl_forward_inference
        try check(dnnl_resampling_forward_desc_init(&operation, kind, dnnl_resampling_nearest, nil, &src, &dst),
                  "resampling_forward_desc_init")
        forward = try PrimitiveDescriptor(operation: operation, engine: graph.engine, what: "nearest upsampling forward")
        self.input = input
        output = try graph.activation(forward.memory(dnnl_query_dst_md))
        graph.append(try PrimitiveCall(forward, [(ExecutionArgument.source, input.value), (ExecutionArgument.destination, output.value)]))
        graph.add(self)
    }

    func backwardSteps(in graph: NetworkGraph) throws -> [GraphStep] {
        guard input.needsGradient else { return [] }
        var diffSrc = input.descriptor.raw
        var diffDst = output.descriptor.raw
        var operation = dnnl_resampling_desc_t()
        try check(dnnl_resampling_backward_desc_init(&operation, dnnl_resampling_nearest, nil, &diffSrc, &diffDst),
                  "resampling_backward_desc_init")
        let backward = try PrimitiveDescriptor(operation: operation, hint: forward, engine: graph.engine, what: "nearest upsampling backward")
        let sink = try graph.gradientSink(for: input)
        return [.primitive(try PrimitiveCall(backward, [
            (ExecutionArgument.diffDestination, try graph.gradient(of: output)), (ExecutionArgument.diffSource, sink.memory),
        ]))] + sink.then
    }
}
