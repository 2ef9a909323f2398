import CDNNL

/// Keras's Conv2DTranspose 2×2 stride 2 with bias and no activation:
/// y[2r+i, 2c+j, o] = b[o] + Σ_ch x[r, c, ch]·K[i, j, o, ch]. Computed as a 1×1 convolution to
/// 4·C packed channels (channel k = (2i + j)·C + o, whose weights [k, ch] are the Keras kernel in
/// row-major order) followed by a pixel shuffle, because oneDNN 2.6's deconvolution runs at a
/// fraction of its 1×1 convolution's speed.
final class TransposedConvolutionLayer: GraphLayer {
    let input: Activation
    let output: Activation
    private let kernel: ParameterTensor
    private let bias: ParameterTensor
    let forward: PrimitiveDescriptor
    /// The 1×1 convolution's output [N, 4C, H, W], before the shuffle. Nothing reads it after the
    /// shuffle, so backward reuses it for the gradient with respect to it.
    private let packed: DNNLMemory
    private let shuffle: PixelShuffle
    /// Predicting under bf16 on a CPU with bf16 arithmetic: the bf16 copy of the input that the
    /// 1×1 convolution reads (with a bf16 copy of the kernel). Training keeps f32.
    private let bf16Input: DNNLMemory?
    /// The precision its primitives are described with: f32 on a CPU with bf16 arithmetic unless
    /// the tensors are bf16 (oneDNN ignores the bf16 fpmath mode on f32 tensors there, and with it
    /// picked reference code for 1×1 convolutions of 16 channels).
    private let arithmetic: Precision
    private static let geometry = ConvolutionGeometry(kernel: 1, stride: 1, padding: 0)

    /// `destination`, when given, is where the output goes (the first part of a concatenation's
    /// buffer); the shuffle writes there directly when it can describe that layout, else the layer
    /// makes its own output, which the caller then copies.
    init(graph: NetworkGraph, input: Activation, kernel: ParameterTensor, bias: ParameterTensor,
         destination: Activation? = nil) throws {
        let channels = kernel.kerasShape[2]
        let packedDims = [input.batch, 4 * channels, input.height, input.width]
        let outputDims = [input.batch, channels, input.height * 2, input.width * 2]
        let destinationBlock = destination.flatMap { destination -> Int? in
            guard destination.dims == outputDims, let block = PixelShuffle.channelBlock(of: destination.descriptor),
                  [1, 8, 16].contains(block), channels % block == 0 else { return nil }
            return block
        }
        // Let the convolution choose its output layout when the shuffle can describe it and it
        // matches the destination's blocking; else make it write the layout the shuffle needs.
        let bf16Tensors = !graph.training && graph.precision == .bf16 && graph.engine.computesBF16Natively
        let source = bf16Tensors ? try MemoryDescriptor.any(input.dims, type: dnnl_bf16) : input.descriptor
        let arithmetic = bf16Tensors || !graph.engine.computesBF16Natively ? graph.precision : .f32
        self.arithmetic = arithmetic
        var forward = try Self.forwardDescriptor(graph: graph, source: source, destination: .any(packedDims), precision: arithmetic,
                                                 name: kernel.name)
        var block = PixelShuffle.channelBlock(of: forward.memory(dnnl_query_dst_md)) ?? 0
        var wanted = destinationBlock
        if wanted == nil, ![1, 8, 16].contains(block) || channels % block != 0 { wanted = 1 }
        if let wanted, wanted != block {
            let packedLayout = try MemoryDescriptor(dims: packedDims, tag: PixelShuffle.spreadTag(forChannelBlock: wanted))
            forward = try Self.forwardDescriptor(graph: graph, source: source, destination: packedLayout, precision: arithmetic,
                                                 name: kernel.name)
            block = wanted
        }
        let packedDescriptor = forward.memory(dnnl_query_dst_md)
        self.forward = forward
        self.input = input
        self.kernel = kernel
        self.bias = bias
        packed = try DNNLMemory(packedDescriptor, engine: graph.engine)
        bf16Input = bf16Tensors ? try graph.sourceCopy(of: input, for: forward) : nil
        if let destination, destinationBlock != nil {
            output = destination
        } else {
            output = try graph.activation(MemoryDescriptor(dims: outputDims, tag: PixelShuffle.spreadTag(forChannelBlock: block)))
        }
        shuffle = try PixelShuffle(packed: packedDescriptor, spread: output.descriptor)

        let weightsMemory = try graph.weights(kernel, as: forward.memory(dnnl_query_weights_md))
        // The parameter keeps Keras's one bias per output channel; the convolution wants it once
        // per sub-pixel, copied from the parameter before every run since training changes it.
        let biasMemory = try graph.weights(bias, as: MemoryDescriptor(dims: [channels], tag: dnnl_x))
        let packedBias = try DNNLMemory(forward.memory(dnnl_query_weights_md, 1), engine: graph.engine)
        graph.append(.host {
            let byteCount = channels * MemoryLayout<Float>.stride
            for subPixel in 0..<4 {
                (packedBias.data + subPixel * byteCount).copyMemory(from: biasMemory.data, byteCount: byteCount)
            }
        })
        graph.append(try PrimitiveCall(forward, [
            (ExecutionArgument.source, bf16Input ?? input.value), (ExecutionArgument.weights, weightsMemory),
            (ExecutionArgument.bias, packedBias), (ExecutionArgument.destination, packed),
        ]))
        let shuffleCall = try PrimitiveDescriptor.reorder(from: shuffle.packedView, to: shuffle.spreadView, engine: graph.engine)
        graph.append(try PrimitiveCall(shuffleCall, [
            (ExecutionArgument.source, DNNLMemory(view: shuffle.packedView, of: packed, engine: graph.engine)),
            (ExecutionArgument.destination, DNNLMemory(view: shuffle.spreadView, of: output.value, engine: graph.engine)),
        ]))
        graph.add(self)
    }

    private static func forwardDescriptor(graph: NetworkGraph, source: MemoryDescriptor, destination: MemoryDescriptor,
                                          precision: Precision, name: String) throws -> PrimitiveDescriptor {
        let geometry = Self.geometry
        let packedChannels = destination.dims[1]
        var src = source.raw
        var weights = try MemoryDescriptor.any([packedChannels, source.dims[1], 1, 1], type: source.type).raw
        var bias = try MemoryDescriptor(dims: [packedChannels], tag: dnnl_x).raw
        var dst = destination.raw
        var operation = dnnl_convolution_desc_t()
        let kind = graph.training ? dnnl_forward_training : dnnl_forward_inference
        try check(dnnl_convolution_forward_desc_init(&operation, kind, dnnl_convolution_direct, &src, &weights, &bias, &dst,
                                                     geometry.strides, geometry.paddings, geometry.paddings),
                  "convolution_forward_desc_init \(name)")
        return try PrimitiveDescriptor(operation: operation, attributes: PrimitiveAttributes(precision: precision),
                                       engine: graph.engine, what: "transposed convolution forward \(name)")
    }

    func backwardSteps(in graph: NetworkGraph) throws -> [GraphStep] {
        var steps: [GraphStep] = []
        let geometry = Self.geometry
        let channels = output.channels
        let packedChannels = 4 * channels
        // The output gradient, unshuffled into the convolution's output layout.
        let packedGradient = packed
        let unshuffle = try PrimitiveDescriptor.reorder(from: shuffle.spreadView, to: shuffle.packedView, engine: graph.engine)
        steps.append(.primitive(try PrimitiveCall(unshuffle, [
            (ExecutionArgument.source, DNNLMemory(view: shuffle.spreadView, of: graph.gradient(of: output), engine: graph.engine)),
            (ExecutionArgument.destination, DNNLMemory(view: shuffle.packedView, of: packedGradient, engine: graph.engine)),
        ])))
        do {
            var src = input.descriptor.raw
            var diffWeights = try MemoryDescriptor.any([packedChannels, input.channels, 1, 1]).raw
            var diffBias = try MemoryDescriptor(dims: [packedChannels], tag: dnnl_x).raw
            var diffDst = packed.descriptor.raw
            var operation = dnnl_convolution_desc_t()
            try check(dnnl_convolution_backward_weights_desc_init(&operation, dnnl_convolution_direct, &src, &diffWeights, &diffBias,
                                                                  &diffDst, geometry.strides, geometry.paddings, geometry.paddings),
                      "convolution_backward_weights_desc_init \(kernel.name)")
            let backward = try PrimitiveDescriptor(operation: operation, attributes: PrimitiveAttributes(precision: arithmetic),
                                                   hint: forward, engine: graph.engine, what: "transposed convolution backward weights \(kernel.name)")
            let kernelGradient = try graph.weightGradient(kernel, as: backward.memory(dnnl_query_diff_weights_md))
            let packedBiasGradient = try DNNLMemory(backward.memory(dnnl_query_diff_weights_md, 1), engine: graph.engine)
            let biasGradient = try graph.weightGradient(bias, as: MemoryDescriptor(dims: [channels], tag: dnnl_x))
            steps.append(.primitive(try PrimitiveCall(backward, [
                (ExecutionArgument.source, input.value), (ExecutionArgument.diffDestination, packedGradient),
                (ExecutionArgument.diffWeights, kernelGradient.memory), (ExecutionArgument.diffBias, packedBiasGradient),
            ])))
            // Each Keras bias feeds all four sub-pixels, so its gradient sums their four slices.
            steps.append(.host {
                let packedSums = packedBiasGradient.floats
                let sums = biasGradient.memory.floats
                for o in 0..<channels {
                    sums[o] = packedSums[o] + packedSums[channels + o] + packedSums[2 * channels + o] + packedSums[3 * channels + o]
                }
            })
            steps += kernelGradient.then + biasGradient.then
        }
        if input.needsGradient {
            var diffSrc = input.descriptor.raw
            var weights = try MemoryDescriptor.any([packedChannels, input.channels, 1, 1]).raw
            var diffDst = packed.descriptor.raw
            var operation = dnnl_convolution_desc_t()
            try check(dnnl_convolution_backward_data_desc_init(&operation, dnnl_convolution_direct, &diffSrc, &weights, &diffDst,
                                                               geometry.strides, geometry.paddings, geometry.paddings),
                      "convolution_backward_data_desc_init \(kernel.name)")
            let backward = try PrimitiveDescriptor(operation: operation, attributes: PrimitiveAttributes(precision: arithmetic),
                                                   hint: forward, engine: graph.engine, what: "transposed convolution backward data \(kernel.name)")
            let weightsMemory = try graph.weights(kernel, as: backward.memory(dnnl_query_weights_md))
            let sink = try graph.gradientSink(for: input)
            steps.append(.primitive(try PrimitiveCall(backward, [
                (ExecutionArgument.diffDestination, packedGradient), (ExecutionArgument.weights, weightsMemory),
                (ExecutionArgument.diffSource, sink.memory),
            ])))
            steps += sink.then
        }
        return steps
    }
}
