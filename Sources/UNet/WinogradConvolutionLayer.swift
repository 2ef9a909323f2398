import CDNNL

/// A 3×3 "same" convolution with bias and ReLU by Winograd's F(4×4, 3×3): the input is cut into
/// 4×4-output tiles, each tile's 6×6 patch transformed (`WinogradTransform`), the 36 transformed
/// positions multiplied by the transformed kernels as 36 matrix products (a oneDNN batched
/// matmul), and the results transformed back with the bias and ReLU applied (`WinogradPass`).
///
/// oneDNN 2.6 has Winograd only for AVX-512; this layer brings it to every CPU. In training, the
/// input gradient is a Winograd convolution too (of the output gradient with the rotated kernel),
/// and so are the kernel and bias gradients (`WinogradKernelGradient`).
final class WinogradConvolutionLayer: GraphLayer {
    let input: Activation
    let output: Activation
    private let kernel: ParameterTensor
    private let bias: ParameterTensor
    private let relu: Bool
    private let forward: WinogradPass
    /// The kernel and bias gradients; nil in inference graphs.
    private let kernelGradient: WinogradKernelGradient?
    /// The kernel's (and its gradient's) memory layout.
    private let kernelLayout: MemoryDescriptor
    /// Channels per block of the input's and the output's layout.
    private let channelBlocks: (input: Int, output: Int)
    private let engine: DNNLEngine

    /// Whether this layer can compute a convolution of `input` with `kernelSize`, and is expected to
    /// beat oneDNN's direct convolution: f32 activations blocked by 8 or 16 channels (or bf16
    /// requested on a CPU that would compute it in f32 anyway), and a Winograd-friendly size.
    static func applies(to input: Activation, kernelSize: Int, outChannels: Int, graph: NetworkGraph) -> Bool {
        guard kernelSize == 3, graph.precision == .f32 || !graph.engine.computesBF16Natively,
              input.channels >= 16, outChannels % 8 == 0, channelBlock(of: input) != nil,
              worthwhile(height: input.height, width: input.width) else { return false }
        return true
    }

    /// 8 or 16 when `activation` is exactly nChw8c or nChw16c (oneDNN's choice on AVX2 and on
    /// AVX-512 CPUs) with whole blocks of channels, nil otherwise.
    static func channelBlock(of activation: Activation) -> Int? {
        for (block, tag) in [(8, dnnl_nChw8c), (16, dnnl_nChw16c)] where activation.channels % block == 0 {
            if let blocked = try? MemoryDescriptor(dims: activation.dims, tag: tag), activation.descriptor.sameLayout(as: blocked) {
                return block
            }
        }
        return nil
    }

    /// At least two 4×4 tiles per side, and at most 40 % of the computed outputs outside the
    /// image (so 5×5, which computes 8×8, stays direct).
    static func worthwhile(height: Int, width: Int) -> Bool {
        guard height >= 8, width >= 8 else { return false }
        let side = WinogradTransform.outputSide
        let computed = ((height + side - 1) / side) * ((width + side - 1) / side) * side * side
        return Double(height * width) >= 0.6 * Double(computed)
    }

    init(graph: NetworkGraph, input: Activation, kernel: ParameterTensor, bias: ParameterTensor, relu: Bool) throws {
        engine = graph.engine
        self.input = input
        self.kernel = kernel
        self.bias = bias
        self.relu = relu
        let inChannels = input.channels, outChannels = kernel.kerasShape[3]
        guard let inputBlock = WinogradConvolutionLayer.channelBlock(of: input) else {
            throw UNetError("the Winograd convolution \(kernel.name) needs an input blocked by 8 or 16 channels")
        }
        // The output keeps the input's blocking, which is what oneDNN's own layers around it use.
        let outputBlock = inputBlock == 16 && outChannels % 16 == 0 ? 16 : 8
        channelBlocks = (inputBlock, outputBlock)
        output = try graph.activation(MemoryDescriptor(dims: [input.batch, outChannels, input.height, input.width],
                                                       tag: outputBlock == 16 ? dnnl_nChw16c : dnnl_nChw8c),
                                      needsGradient: graph.training)
        // (3, 3, in, out): what the kernel transform reads and the kernel gradient writes, so
        // neither needs a reorder.
        let plain = try MemoryDescriptor(dims: [outChannels, inChannels, 3, 3], tag: dnnl_hwio)
        _ = try kernel.bind(plain)
        _ = try bias.bind(MemoryDescriptor(dims: [outChannels], tag: dnnl_x))
        kernelLayout = plain
        kernelGradient = graph.training
            ? try WinogradKernelGradient(engine: engine, batch: input.batch, height: input.height, width: input.width,
                                         inChannels: inChannels, outChannels: outChannels, channelBlocks: channelBlocks,
                                         workspace: graph.winogradWorkspace)
            : nil
        forward = try WinogradPass(engine: engine, batch: input.batch, height: input.height, width: input.width,
                                   inChannels: inChannels, outChannels: outChannels, channelBlocks: channelBlocks, relu: relu,
                                   kernel: kernel, kernelLayout: plain, rotated: false,
                                   workspace: graph.winogradWorkspace, keepsKernel: !graph.training)
        graph.append(.host { [unowned self] in
            guard let biasValues = self.bias.master else { throw UNetError("parameter \(self.bias.name) has no values") }
            try self.forward.run(source: self.input.value, destination: self.output.value, bias: biasValues)
        })
        graph.add(self)
    }

    func backwardSteps(in graph: NetworkGraph) throws -> [GraphStep] {
        guard let kernelGradient else { throw UNetError("the Winograd convolution \(kernel.name) was built for inference") }
        let outputGradient = try graph.gradient(of: output)
        var steps: [GraphStep] = []
        if relu { steps.append(try graph.reluBackward(output: output, gradient: outputGradient, name: kernel.name)) }
        let kernelSink = try graph.weightGradient(kernel, as: kernelLayout)
        let biasSink = try graph.weightGradient(bias, as: MemoryDescriptor(dims: [output.channels], tag: dnnl_x))
        steps.append(.host { [input] in
            try kernelGradient.run(input: input.value, outputGradient: outputGradient,
                                   kernelGradient: kernelSink.memory, biasGradient: biasSink.memory)
        })
        steps += kernelSink.then + biasSink.then
        if input.needsGradient {
            // The input gradient of a 3×3 same convolution is the 3×3 same convolution of the
            // output gradient with the kernel rotated 180° and its channels swapped: the staging
            // copy puts the forward input channels fastest, and the pass reads the taps reversed.
            let (inChannels, outChannels) = (input.channels, output.channels)
            let swapped = try MemoryDescriptor(dims: [outChannels, inChannels, 3, 3],
                                               strides: [inChannels, 1, 3 * outChannels * inChannels, outChannels * inChannels])
            let backwardData = try WinogradPass(engine: engine, batch: input.batch, height: input.height, width: input.width,
                                                inChannels: outChannels, outChannels: inChannels,
                                                channelBlocks: (channelBlocks.output, channelBlocks.input), relu: false,
                                                kernel: kernel, kernelLayout: swapped, rotated: true,
                                                workspace: graph.winogradWorkspace, keepsKernel: false)
            let sink = try graph.gradientSink(for: input)
            steps.append(.host { try backwardData.run(source: outputGradient, destination: sink.memory, bias: nil) })
            steps += sink.then
        }
        return steps
    }
}
