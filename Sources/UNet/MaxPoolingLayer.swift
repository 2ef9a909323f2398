import CDNNL

/// Max pooling 2×2 with stride 2. Training keeps oneDNN's workspace (the argmax) for backward.
final class MaxPoolingLayer: GraphLayer {
    let input: Activation
    let output: Activation
    private let forward: PrimitiveDescriptor
    private let workspace: DNNLMemory?
    private static let window: [Int64] = [2, 2]
    private static let noPadding: [Int64] = [0, 0]

    init(graph: NetworkGraph, input: Activation) throws {
        var src = input.descriptor.raw
        var dst = try MemoryDescriptor.any([input.batch, input.channels, input.height / 2, input.width / 2]).raw
        var operation = dnnl_pooling_desc_t()
        let kind = graph.training ? dnnl_forward_training : dnnl_forward_inference
        try check(dnnl_pooling_forward_desc_init(&operation, kind, dnnl_pooling_max, &src, &dst, Self.window, Self.window,
                                                 Self.noPadding, Self.noPadding), "pooling_forward_desc_init")
        forward = try PrimitiveDescriptor(operation: operation, engine: graph.engine, what: "max pooling forward")
        self.input = input
        output = try graph.activation(forward.memory(dnnl_query_dst_md))
        var bindings: [(Int32, DNNLMemory)] = [(ExecutionArgument.source, input.value), (ExecutionArgument.destination, output.value)]
        if graph.training {
            let memory = try DNNLMemory(forward.memory(dnnl_query_workspace_md), engine: graph.engine)
            bindings.append((ExecutionArgument.workspace, memory))
            workspace = memory
        } else {
            workspace = nil
        }
        graph.append(try PrimitiveCall(forward, bindings))
        graph.add(self)
    }

    func backwardSteps(in graph: NetworkGraph) throws -> [GraphStep] {
        guard input.needsGradient, let workspace else { return [] }
        var diffSrc = input.descriptor.raw
        var diffDst = output.descriptor.raw
        var operation = dnnl_pooling_desc_t()
        try check(dnnl_pooling_backward_desc_init(&operation, dnnl_pooling_max, &diffSrc, &diffDst, Self.window, Self.window,
                                                  Self.noPadding, Self.noPadding), "pooling_backward_desc_init")
        let backward = try PrimitiveDescriptor(operation: operation, hint: forward, engine: graph.engine, what: "max pooling backward")
        let sink = try graph.gradientSink(for: input)
        return [.primitive(try PrimitiveCall(backward, [
            (ExecutionArgument.diffDestination, try graph.gradient(of: output)), (ExecutionArgument.workspace, workspace),
            (ExecutionArgument.diffSource, sink.memory),
        ]))] + sink.then
    }
}
