import CDNNL

/// A square convolution with bias, stride 1 and "same" padding, optionally followed by a fused
/// ReLU (3×3 for the U-Net's levels, 1×1 for its head).
final class ConvolutionLayer: GraphLayer {
    let input: Activation
    let output: Activation
    private let kernel: ParameterTensor
    private let bias: ParameterTensor
    private let relu: Bool
    let forward: PrimitiveDescriptor
    private let geometry: ConvolutionGeometry
    /// The arithmetic of this layer's primitives: the graph's, unless the layer asked for another.
    let precision: Precision
    /// The forward pass when it is a patch product (whose kernel the input gradient reuses).
    private let patchProduct: PatchProductConvolution?
    /// Under bf16 on a CPU with bf16 arithmetic: the bf16 copy of the input that the forward and
    /// kernel-gradient primitives read (their kernels are bf16 copies too). Activations between
    /// layers stay f32: the demo model's bf16 class maps agree with its f32 ones on 99.94 % of
    /// the sample scenes' pixels (scripts/bf16-accuracy.sh).
    private let bf16Input: DNNLMemory?

    /// `precision` overrides the graph's for this layer alone. `patchProduct`: compute the
    /// forward pass as a `PatchProductConvolution` (where it `applies`) instead of oneDNN's
    /// direct convolution, and the input gradient as a `PatchProductInputGradient`.
    init(graph: NetworkGraph, input: Activation, kernel: ParameterTensor, bias: ParameterTensor, relu: Bool,
         precision: Precision? = nil, patchProduct: Bool = false) throws {
        let outChannels = kernel.kerasShape[3]
        let size = kernel.kerasShape[0]
        geometry = ConvolutionGeometry(kernel: size, stride: 1, padding: (size - 1) / 2)
        let requested = precision ?? graph.precision
        var bf16Forward: PrimitiveDescriptor?
        if requested == .bf16 && graph.engine.computesBF16Natively && !patchProduct {
            let candidate = try ConvolutionLayer.descriptor(graph: graph, source: .any(input.dims, type: dnnl_bf16), outChannels: outChannels,
                                                            kernelSize: size, relu: relu, precision: .bf16, name: kernel.name)
            if try ConvolutionLayer.hasFastBF16Primitives(candidate, input: input, outChannels: outChannels, kernelSize: size,
                                                          graph: graph, name: kernel.name) {
                bf16Forward = candidate
            }
        }
        // Where the CPU has bf16 arithmetic, a layer without fast bf16 primitives (oneDNN 2.6 has
        // no bf16 kernel gradient for 8 channels, for one) computes in f32, without the bf16 fpmath
        // attribute: oneDNN ignores it on f32 tensors there, and it made oneDNN pick reference code
        // for some f32 convolutions.
        self.precision = bf16Forward != nil || !graph.engine.computesBF16Natively ? requested : .f32
        let bf16Tensors = bf16Forward != nil
        forward = try bf16Forward ?? ConvolutionLayer.descriptor(graph: graph, source: input.descriptor, outChannels: outChannels,
                                                                 kernelSize: size, relu: relu, precision: self.precision, name: kernel.name)
        bf16Input = bf16Tensors ? try graph.sourceCopy(of: input, for: forward) : nil
        self.input = input
        self.kernel = kernel
        self.bias = bias
        self.relu = relu
        output = try graph.activation(forward.memory(dnnl_query_dst_md))
        if patchProduct {
            // The primitive is still described: its output layout is the layer's, and it is the
            // backward primitives' hint.
            let product = try PatchProductConvolution(engine: graph.engine, input: input, output: output.value, kernel: kernel, bias: bias,
                                                      relu: relu, keepsPanels: !graph.training, workspace: graph.winogradWorkspace)
            graph.append(.host { try product.run() })
            self.patchProduct = product
        } else {
            self.patchProduct = nil
            let weights = try graph.weights(kernel, as: forward.memory(dnnl_query_weights_md))
            let biasMemory = try graph.weights(bias, as: forward.memory(dnnl_query_weights_md, 1))
            graph.append(try PrimitiveCall(forward, [
                (ExecutionArgument.source, bf16Input ?? input.value), (ExecutionArgument.weights, weights),
                (ExecutionArgument.bias, biasMemory), (ExecutionArgument.destination, output.value),
            ]))
        }
        graph.add(self)
    }

    /// The layout a convolution prefers for its source when free to choose (for the network input).
    /// Training also needs the kernel gradient, and oneDNN may pair a forward layout with no fast
    /// backward-weights implementation: on AVX-512 it lays an 8-channel input out plain (NCHW),
    /// whose kernel gradient only its reference code computes: 11 s of a 12 s training step.
    /// There the first channel-last or blocked layout with fast forward and kernel-gradient
    /// implementations is taken (oneDNN 2.6 has none for channel-last training there).
    static func preferredSource(graph: NetworkGraph, dims: [Int], outChannels: Int, kernelSize: Int) throws -> MemoryDescriptor {
        let preferred = try descriptor(graph: graph, source: .any(dims), outChannels: outChannels, kernelSize: kernelSize, relu: true,
                                       precision: graph.precision, name: "input")
            .memory(dnnl_query_src_md)
        guard graph.training else { return preferred }
        let candidates = try [preferred] + [dnnl_nhwc, dnnl_nChw16c, dnnl_nChw8c].map { try MemoryDescriptor(dims: dims, tag: $0) }
        for source in candidates {
            let forward = try descriptor(graph: graph, source: source, outChannels: outChannels, kernelSize: kernelSize, relu: true,
                                         precision: graph.precision, name: "input")
            let kernelGradient = try backwardWeightsDescriptor(forward: forward, source: source, outChannels: outChannels,
                                                               kernelSize: kernelSize, precision: graph.precision, engine: graph.engine,
                                                               name: "input")
            if !forward.implementation.hasPrefix("ref"), !kernelGradient.implementation.hasPrefix("ref") { return source }
        }
        return preferred
    }

    /// Whether `forward`, a bf16 convolution, and in training its kernel and input gradients in
    /// bf16 all have oneDNN implementations other than its reference code.
    private static func hasFastBF16Primitives(_ forward: PrimitiveDescriptor, input: Activation, outChannels: Int, kernelSize: Int,
                                              graph: NetworkGraph, name: String) throws -> Bool {
        guard !forward.implementation.hasPrefix("ref") else { return false }
        guard graph.training else { return true }
        let outputGradient = forward.memory(dnnl_query_dst_md).with(type: dnnl_bf16)
        let kernelGradient = try backwardWeightsDescriptor(forward: forward, source: forward.memory(dnnl_query_src_md),
                                                           diffDestination: outputGradient, outChannels: outChannels, kernelSize: kernelSize,
                                                           precision: .bf16, engine: graph.engine, name: name)
        guard !kernelGradient.implementation.hasPrefix("ref") else { return false }
        guard input.needsGradient else { return true }
        let inputGradient = try backwardDataDescriptor(forward: forward, diffSource: .any(input.dims), diffDestination: outputGradient,
                                                       outChannels: outChannels, kernelSize: kernelSize, precision: .bf16,
                                                       engine: graph.engine, name: name)
        return !inputGradient.implementation.hasPrefix("ref")
    }

    /// oneDNN's backward-data convolution (the input gradient) matching `forward`, reading
    /// kernels of the output gradient's data type.
    private static func backwardDataDescriptor(forward: PrimitiveDescriptor, diffSource: MemoryDescriptor, diffDestination: MemoryDescriptor,
                                               outChannels: Int, kernelSize: Int, precision: Precision, engine: DNNLEngine,
                                               name: String) throws -> PrimitiveDescriptor {
        let geometry = ConvolutionGeometry(kernel: kernelSize, stride: 1, padding: (kernelSize - 1) / 2)
        var diffSrc = diffSource.raw
        var weights = try MemoryDescriptor.any([outChannels, diffSource.dims[1], kernelSize, kernelSize], type: diffDestination.type).raw
        var diffDst = diffDestination.raw
        var operation = dnnl_convolution_desc_t()
        try check(dnnl_convolution_backward_data_desc_init(&operation, dnnl_convolution_direct, &diffSrc, &weights, &diffDst,
                                                           geometry.strides, geometry.paddings, geometry.paddings),
                  "convolution_backward_data_desc_init \(name)")
        let attributes = try PrimitiveAttributes(precision: precision)
        return try PrimitiveDescriptor(operation: operation, attributes: attributes, hint: forward, engine: engine,
                                       what: "convolution backward data \(name)")
    }

    /// oneDNN's backward-weights convolution (kernel and bias gradients) matching `forward`.
    /// `diffDestination`: the output gradient's descriptor, the forward output's by default.
    private static func backwardWeightsDescriptor(forward: PrimitiveDescriptor, source: MemoryDescriptor,
                                                  diffDestination: MemoryDescriptor? = nil, outChannels: Int,
                                                  kernelSize: Int, precision: Precision, engine: DNNLEngine,
                                                  name: String) throws -> PrimitiveDescriptor {
        let geometry = ConvolutionGeometry(kernel: kernelSize, stride: 1, padding: (kernelSize - 1) / 2)
        var src = source.raw
        var diffWeights = try MemoryDescriptor.any([outChannels, source.dims[1], kernelSize, kernelSize]).raw
        var diffBias = try MemoryDescriptor(dims: [outChannels], tag: dnnl_x).raw
        var diffDst = (diffDestination ?? forward.memory(dnnl_query_dst_md)).raw
        var operation = dnnl_convolution_desc_t()
        try check(dnnl_convolution_backward_weights_desc_init(&operation, dnnl_convolution_direct, &src, &diffWeights, &diffBias, &diffDst,
                                                              geometry.strides, geometry.paddings, geometry.paddings),
                  "convolution_backward_weights_desc_init \(name)")
        let attributes = try PrimitiveAttributes(precision: precision)
        return try PrimitiveDescriptor(operation: operation, attributes: attributes, hint: forward, engine: engine,
                                       what: "convolution backward weights \(name)")
    }

    private static func descriptor(graph: NetworkGraph, source: MemoryDescriptor, outChannels: Int, kernelSize: Int,
                                   relu: Bool, precision: Precision, name: String) throws -> PrimitiveDescriptor {
        let dims = source.dims
        let geometry = ConvolutionGeometry(kernel: kernelSize, stride: 1, padding: (kernelSize - 1) / 2)
        var src = source.raw
        var weights = try MemoryDescriptor.any([outChannels, dims[1], kernelSize, kernelSize], type: source.type).raw
        var bias = try MemoryDescriptor(dims: [outChannels], tag: dnnl_x).raw
        var dst = try MemoryDescriptor.any([dims[0], outChannels, dims[2], dims[3]]).raw
        var operation = dnnl_convolution_desc_t()
        let kind = graph.training ? dnnl_forward_training : dnnl_forward_inference
        try check(dnnl_convolution_forward_desc_init(&operation, kind, dnnl_convolution_direct, &src, &weights, &bias, &dst,
                                                     geometry.strides, geometry.paddings, geometry.paddings),
                  "convolution_forward_desc_init \(name)")
        let attributes = try PrimitiveAttributes(relu: relu, precision: precision)
        let chosen = try PrimitiveDescriptor(operation: operation, attributes: attributes, engine: graph.engine,
                                             what: "convolution forward \(name)")
        let chosenBlock = chosen.memory(dnnl_query_dst_md).innerBlock
        let wantedBlock: Int
        if graph.blockedConvolutionOutputs, kernelSize == 3, outChannels % 8 == 0, chosenBlock == 1 {
            wantedBlock = outChannels % 16 == 0 ? 16 : 8
        } else if chosenBlock == 16, outChannels % 16 != 0, outChannels % 8 == 0 {
            // bf16 convolutions write 8 or 24 channels padded to 16-blocks, for which the f32
            // layers after them (and their gradients) have only reference code.
            wantedBlock = 8
        } else {
            return chosen
        }
        var blocked = try MemoryDescriptor(dims: [dims[0], outChannels, dims[2], dims[3]],
                                           tag: wantedBlock == 16 ? dnnl_nChw16c : dnnl_nChw8c).raw
        try check(dnnl_convolution_forward_desc_init(&operation, kind, dnnl_convolution_direct, &src, &weights, &bias, &blocked,
                                                     geometry.strides, geometry.paddings, geometry.paddings),
                  "convolution_forward_desc_init \(name)")
        let blockedOutput = try PrimitiveDescriptor(operation: operation, attributes: attributes, engine: graph.engine,
                                                    what: "convolution forward \(name)")
        return blockedOutput.implementation.hasPrefix("ref") && !chosen.implementation.hasPrefix("ref") ? chosen : blockedOutput
    }

    func backwardSteps(in graph: NetworkGraph) throws -> [GraphStep] {
        var steps: [GraphStep] = []
        // The ReLU's derivative comes from its output; overwrite the output gradient in place.
        let outputGradient = try graph.gradient(of: output)
        if relu { steps.append(try graph.reluBackward(output: output, gradient: outputGradient, name: kernel.name)) }
        let outChannels = output.channels
        let size = geometry.kernel
        // bf16 primitives read a bf16 copy of the output gradient.
        var primitiveOutputGradient = outputGradient
        if bf16Input != nil {
            let copy = try DNNLMemory(output.descriptor.with(type: dnnl_bf16), engine: graph.engine)
            steps.append(.primitive(try PrimitiveCall.reorder(from: outputGradient, to: copy, engine: graph.engine)))
            primitiveOutputGradient = copy
        }
        if PatchProductKernelGradient.applies(to: input, precision: precision, engine: graph.engine) {
            let kernelSink = try StagedWeightGradient(kernel, as: MemoryDescriptor(dims: [outChannels, input.channels, size, size], tag: dnnl_hwio),
                                                      graph: graph)
            let biasSink = try graph.weightGradient(bias, as: MemoryDescriptor(dims: [outChannels], tag: dnnl_x))
            let product = try PatchProductKernelGradient(engine: graph.engine, input: input, outputGradient: outputGradient,
                                                         outChannels: outChannels, kernelSize: size)
            steps.append(.host {
                try kernelSink.write { try product.run(kernelGradient: $0, biasGradient: biasSink.memory) }
            })
            steps += biasSink.then
        } else {
            let backward = try ConvolutionLayer.backwardWeightsDescriptor(forward: forward, source: (bf16Input ?? input.value).descriptor,
                                                                          diffDestination: primitiveOutputGradient.descriptor,
                                                                          outChannels: outChannels, kernelSize: size, precision: precision,
                                                                          engine: graph.engine, name: kernel.name)
            steps += try graph.weightGradientSteps(backward, kernel: kernel, bias: bias, source: bf16Input ?? input.value,
                                                   outputGradient: primitiveOutputGradient)
        }
        if input.needsGradient, let patchProduct, PatchProductInputGradient.applies(to: input) {
            let sink = try graph.gradientSink(for: input)
            let inputGradient = try PatchProductInputGradient(engine: graph.engine, forward: patchProduct, outputGradient: outputGradient,
                                                              sink: sink.memory, workspace: graph.winogradWorkspace)
            steps.append(.host { try inputGradient.run() })
            steps += sink.then
        } else if input.needsGradient {
            func backwardData(diffSource: MemoryDescriptor) throws -> PrimitiveDescriptor {
                try ConvolutionLayer.backwardDataDescriptor(forward: forward, diffSource: diffSource,
                                                            diffDestination: primitiveOutputGradient.descriptor, outChannels: outChannels,
                                                            kernelSize: size, precision: precision, engine: graph.engine, name: kernel.name)
            }
            var backward = try backwardData(diffSource: input.descriptor)
            // bf16 on AVX-512 has no jit input gradient into a plain f32 layout: one in a layout
            // oneDNN picks, reordered into the input's, beats its reference code.
            if backward.implementation.hasPrefix("ref") {
                let free = try backwardData(diffSource: .any(input.dims))
                if !free.implementation.hasPrefix("ref") { backward = free }
            }
            let weightsMemory = try graph.weights(kernel, as: backward.memory(dnnl_query_weights_md))
            let sink = try graph.gradientSink(for: input)
            let written = backward.memory(dnnl_query_diff_src_md)
            let destination = written.sameLayout(as: sink.memory.descriptor) ? sink.memory : try DNNLMemory(written, engine: graph.engine)
            steps.append(.primitive(try PrimitiveCall(backward, [
                (ExecutionArgument.diffDestination, primitiveOutputGradient), (ExecutionArgument.weights, weightsMemory),
                (ExecutionArgument.diffSource, destination),
            ])))
            if destination !== sink.memory {
                steps.append(.primitive(try PrimitiveCall.reorder(from: destination, to: sink.memory, engine: graph.engine)))
            }
            steps += sink.then
        }
        return steps
    }
}

/// Kernel size, stride and symmetric padding of a 2-D convolution, as oneDNN's dims arrays.
struct ConvolutionGeometry {
    let kernel: Int
    let strides: [Int64]
    let paddings: [Int64]

    init(kernel: Int, stride: Int, padding: Int) {
        self.kernel = kernel
        strides = [Int64(stride), Int64(stride)]
        paddings = [Int64(padding), Int64(padding)]
    }
}
