import CDNNL

/// Keras's Conv2DTranspose 2×2 stride 2 with bias and no activation:
/// y[2r+i, 2c+j, o] = b[o] + Σ_ch x[r, c, ch]·K[i, j, o, ch]. oneDNN's deconvolution computes the
/// same with weights (o, ch, i, j), so no spatial flip is needed.
final class TransposedConvolutionLayer: GraphLayer {
    let input: Activation
    let output: Activation
    private let kernel: ParameterTensor
    private let bias: ParameterTensor
    private let forward: PrimitiveDescriptor
    private let geometry = ConvolutionGeometry(kernel: 2, stride: 2, padding: 0)

    init(graph: NetworkGraph, input: Activation, kernel: ParameterTensor, bias: ParameterTensor) throws {
        let outChannels = kernel.kerasShape[2]
        var src = input.descriptor.raw
        var weights = try MemoryDescriptor.any([outChannels, input.channels, 2, 2]).raw
        var biasDescriptor = try MemoryDescriptor(dims: [outChannels], tag: dnnl_x).raw
        var dst = try MemoryDescriptor.any([input.batch, outChannels, input.height * 2, input.width * 2]).raw
        var operation = dnnl_deconvolution_desc_t()
        let kind = graph.training ? dnnl_forward_training : dnnl_forward_inference
        try check(dnnl_deconvolution_forward_desc_init(&operation, kind, dnnl_deconvolution_direct, &src, &weights, &biasDescriptor, &dst,
                                                       geometry.strides, geometry.paddings, geometry.paddings),
                  "deconvolution_forward_desc_init \(kernel.name)")
        forward = try PrimitiveDescriptor(operation: operation, attributes: PrimitiveAttributes(precision: graph.precision),
                                          engine: graph.engine, what: "deconvolution forward \(kernel.name)")
        self.input = input
        self.kernel = kernel
        self.bias = bias
        output = try graph.activation(forward.memory(dnnl_query_dst_md))
        let weightsMemory = try graph.weights(kernel, as: forward.memory(dnnl_query_weights_md))
        let biasMemory = try graph.weights(bias, as: forward.memory(dnnl_query_weights_md, 1))
        graph.append(try PrimitiveCall(forward, [
            (ExecutionArgument.source, input.value), (ExecutionArgument.weights, weightsMemory),
            (ExecutionArgument.bias, biasMemory), (ExecutionArgument.destination, output.value),
        ]))
        graph.add(self)
    }

    func backwardSteps(in graph: NetworkGraph) throws -> [GraphStep] {
        var steps: [GraphStep] = []
        let outputGradient = try graph.gradient(of: output)
        let outChannels = output.channels
        do {
            var src = input.descriptor.raw
            var diffWeights = try MemoryDescriptor.any([outChannels, input.channels, 2, 2]).raw
            var diffBias = try MemoryDescriptor(dims: [outChannels], tag: dnnl_x).raw
            var diffDst = output.descriptor.raw
            var operation = dnnl_deconvolution_desc_t()
            try check(dnnl_deconvolution_backward_weights_desc_init(&operation, dnnl_deconvolution_direct, &src, &diffWeights, &diffBias,
                                                                    &diffDst, geometry.strides, geometry.paddings, geometry.paddings),
                      "deconvolution_backward_weights_desc_init \(kernel.name)")
            let backward = try PrimitiveDescriptor(operation: operation, attributes: PrimitiveAttributes(precision: graph.precision),
                                                   hint: forward, engine: graph.engine, what: "deconvolution backward weights \(kernel.name)")
            let kernelGradient = try graph.weightGradient(kernel, as: backward.memory(dnnl_query_diff_weights_md))
            let biasGradient = try graph.weightGradient(bias, as: backward.memory(dnnl_query_diff_weights_md, 1))
            steps.append(.primitive(try PrimitiveCall(backward, [
                (ExecutionArgument.source, input.value), (ExecutionArgument.diffDestination, outputGradient),
                (ExecutionArgument.diffWeights, kernelGradient.memory), (ExecutionArgument.diffBias, biasGradient.memory),
            ])))
            steps += kernelGradient.then + biasGradient.then
        }
        if input.needsGradient {
            var diffSrc = input.descriptor.raw
            var weights = try MemoryDescriptor.any([outChannels, input.channels, 2, 2]).raw
            var diffDst = output.descriptor.raw
            var operation = dnnl_deconvolution_desc_t()
            try check(dnnl_deconvolution_backward_data_desc_init(&operation, dnnl_deconvolution_direct, &diffSrc, &weights, &diffDst,
                                                                 geometry.strides, geometry.paddings, geometry.paddings),
                      "deconvolution_backward_data_desc_init \(kernel.name)")
            let backward = try PrimitiveDescriptor(operation: operation, attributes: PrimitiveAttributes(precision: graph.precision),
                                                   hint: forward, engine: graph.engine, what: "deconvolution backward data \(kernel.name)")
            let weightsMemory = try graph.weights(kernel, as: backward.memory(dnnl_query_weights_md))
            let sink = try graph.gradientSink(for: input)
            steps.append(.primitive(try PrimitiveCall(backward, [
                (ExecutionArgument.diffDestination, outputGradient), (ExecutionArgument.weights, weightsMemory),
                (ExecutionArgument.diffSource, sink.memory),
            ])))
            steps += sink.then
        }
        return steps
    }
}
