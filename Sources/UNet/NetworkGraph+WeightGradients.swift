import CDNNL

extension NetworkGraph {
    /// The steps of a convolution's backward-weights primitive: it writes the kernel and bias
    /// gradients (through scratch memories and reorders where their layouts differ from the
    /// parameters' own) from the layer's input (`source`, as the primitive reads it) and output
    /// gradient.
    func weightGradientSteps(_ backward: PrimitiveDescriptor, kernel: ParameterTensor, bias: ParameterTensor,
                             source: DNNLMemory, outputGradient: DNNLMemory) throws -> [GraphStep] {
        let kernelGradient = try weightGradient(kernel, as: backward.memory(dnnl_query_diff_weights_md))
        let biasGradient = try weightGradient(bias, as: backward.memory(dnnl_query_diff_weights_md, 1))
        let call = try PrimitiveCall(backward, [
            (ExecutionArgument.source, source), (ExecutionArgument.diffDestination, outputGradient),
            (ExecutionArgument.diffWeights, kernelGradient.memory), (ExecutionArgument.diffBias, biasGradient.memory),
        ])
        return [.primitive(call)] + kernelGradient.then + biasGradient.then
    }
}
