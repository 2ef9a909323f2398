import CDNNL

/// A 3×3 "same" convolution with bias and ReLU by Winograd's F(4×4, 3×3): the input is cut into
/// 4×4-output tiles, each tile's 6×6 patch transformed (`WinogradTransform`), the 36 transformed
/// positions multiplied by the transformed kernels as 36 matrix products (`PanelProduct`, or
/// oneDNN's batched matmul on AVX-512 CPUs), and the results transformed back with the bias and
/// ReLU applied (`WinogradPass`).
///
/// oneDNN 2.6 has Winograd only for AVX-512; this layer brings it to every CPU. In training, the
/// input gradient is a Winograd convolution too (of the output gradient with the rotated kernel),
/// and so are the kernel and bias gradients (`WinogradKernelGradient`).
final class WinogradConvolutionLayer: GraphLayer {
    let input: Activation
    let output: Activation
    /// The output's 2×2 max pooling, when the layer was asked to pool (inference only).
    let pooledOutput: Activation?
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
    /// requested on a CPU that would compute it in f32 anyway, or predicting on large images
    /// where f32 Winograd beats bf16 arithmetic), a Winograd-friendly size, and
    /// enough channels for the smaller matrix products to pay for the transforms. With 8 or 16
    /// output channels they do not: predicting a 2400×2400 scene took 7.2–7.6 s with such layers
    /// on Winograd against 6.5–6.8 s with them direct (8-filter model), 12.1–12.9 against
    /// 11.8–12.4 s (16 filters); the default model's layers all have 32 or more.
    static func applies(to input: Activation, kernelSize: Int, outChannels: Int, graph: NetworkGraph) -> Bool {
        guard kernelSize == 3, graph.precision == .f32 || !graph.engine.computesBF16Natively
                || (!graph.training && input.height * input.width >= bf16MinimumPixels),
              input.channels >= 16, outChannels >= 32, outChannels % 8 == 0, channelBlock(of: input) != nil,
              worthwhile(height: input.height, width: input.width) else { return false }
        return true
    }

    /// Under bf16 on a CPU with bf16 arithmetic, the smallest image that Winograd (in f32) takes
    /// from oneDNN's bf16 direct convolutions when predicting. On a Zen 4, Winograd at 40 px and
    /// more with bf16 below gave 36.0 tiles/s against 33.6 with bf16 everywhere; Winograd down
    /// to 10 px was slower again (32.3–34.3). Training stays bf16: 9.4 and 8.5 tiles/s with
    /// Winograd at 40 px and more against 9.6 and 9.4 without.
    static let bf16MinimumPixels = 40 * 40

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

    /// The channel block of the output for `input` (which must be blocked, `channelBlock(of:)`):
    /// the input's, which is what oneDNN's own layers around it use, when `outChannels` fills it.
    static func outputBlock(input: Activation, outChannels: Int) -> Int? {
        guard let inputBlock = channelBlock(of: input) else { return nil }
        return inputBlock == 16 && outChannels % 16 == 0 ? 16 : 8
    }

    /// In inference graphs, `destination` is where the output goes: a view of a wider tensor in
    /// the output's channel blocking (a concatenation's buffer), used when it fits, else the layer
    /// makes its own output. `pools` also writes the output's 2×2 max pooling (`pooledOutput`),
    /// also in inference only: training's pooling layer keeps its argmax for backward, and the
    /// backward passes read the layer's own output.
    init(graph: NetworkGraph, input: Activation, kernel: ParameterTensor, bias: ParameterTensor, relu: Bool,
         destination: Activation? = nil, pools: Bool = false) throws {
        engine = graph.engine
        self.input = input
        self.kernel = kernel
        self.bias = bias
        self.relu = relu
        let inChannels = input.channels, outChannels = kernel.kerasShape[3]
        guard let inputBlock = WinogradConvolutionLayer.channelBlock(of: input),
              let outputBlock = WinogradConvolutionLayer.outputBlock(input: input, outChannels: outChannels) else {
            throw UNetError("the Winograd convolution \(kernel.name) needs an input blocked by 8 or 16 channels")
        }
        if pools && (graph.training || input.height < 2 || input.width < 2) {
            throw UNetError("the Winograd convolution \(kernel.name) pools only in inference, and only a tensor of at least 2×2")
        }
        channelBlocks = (inputBlock, outputBlock)
        let outputDims = [input.batch, outChannels, input.height, input.width]
        let outputTag = outputBlock == 16 ? dnnl_nChw16c : dnnl_nChw8c
        var placement = WinogradOutputPlacement(pools: pools)
        if !graph.training, let destination, let view = try Self.placement(in: destination, dims: outputDims, tag: outputTag, block: outputBlock) {
            output = destination
            placement.tensorChannels = view.tensorChannels
            placement.channelOffset = view.channelOffset
        } else {
            output = try graph.activation(MemoryDescriptor(dims: outputDims, tag: outputTag), needsGradient: graph.training)
        }
        pooledOutput = pools
            ? try graph.activation(MemoryDescriptor(dims: [input.batch, outChannels, input.height / 2, input.width / 2], tag: outputTag),
                                   needsGradient: false)
            : nil
        // (3, 3, in, out): what the kernel transform reads and the kernel gradient writes, so
        // neither needs a reorder.
        let plain = try MemoryDescriptor(dims: [outChannels, inChannels, 3, 3], tag: dnnl_hwio)
        _ = try kernel.bind(plain)
        _ = try bias.bind(MemoryDescriptor(dims: [outChannels], tag: dnnl_x))
        kernelLayout = plain
        kernelGradient = graph.training
            ? try WinogradKernelGradient(engine: engine, batch: input.batch, height: input.height, width: input.width,
                                         inChannels: inChannels, outChannels: outChannels, channelBlocks: channelBlocks,
                                         workspace: graph.winogradWorkspace, panelProducts: graph.winogradPanelProducts)
            : nil
        forward = try WinogradPass(engine: engine, batch: input.batch, height: input.height, width: input.width,
                                   inChannels: inChannels, outChannels: outChannels, channelBlocks: channelBlocks, relu: relu,
                                   kernel: kernel, kernelLayout: plain, rotated: false,
                                   workspace: graph.winogradWorkspace, keepsKernel: !graph.training,
                                   panelProducts: graph.winogradPanelProducts, placement: placement)
        graph.append(.host { [unowned self] in
            guard let biasValues = self.bias.master else { throw UNetError("parameter \(self.bias.name) has no values") }
            try self.forward.run(source: self.input.value, destination: self.output.value, bias: biasValues,
                                 pooled: self.pooledOutput?.value)
        })
        graph.add(self)
    }

    /// The wider tensor's channels and the view's first channel when `destination` is a view of
    /// an activation of layout `tag` at a whole channel block, with dims `dims`; nil otherwise.
    private static func placement(in destination: Activation, dims: [Int], tag: dnnl_format_tag_t,
                                  block: Int) throws -> (tensorChannels: Int, channelOffset: Int)? {
        guard let parent = destination.parent, destination.dims == dims,
              parent.dims == [dims[0], parent.channels, dims[2], dims[3]],
              parent.descriptor.sameLayout(as: try MemoryDescriptor(dims: parent.dims, tag: tag)) else { return nil }
        let pixels = dims[2] * dims[3]
        let offset = Int(destination.descriptor.raw.offset0)
        guard offset % (pixels * block) == 0 else { return nil }
        let channelOffset = offset / pixels
        let expected = try parent.descriptor.submemory(dims: dims, offsets: [0, channelOffset, 0, 0])
        guard destination.descriptor.sameLayout(as: expected) else { return nil }
        return (parent.channels, channelOffset)
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
                                                workspace: graph.winogradWorkspace, keepsKernel: false,
                                                panelProducts: graph.winogradPanelProducts)
            let sink = try graph.gradientSink(for: input)
            steps.append(.host { try backwardData.run(source: outputGradient, destination: sink.memory, bias: nil) })
            steps += sink.then
        }
        return steps
    }
}
