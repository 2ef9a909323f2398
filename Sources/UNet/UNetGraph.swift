import CDNNL

/// The U-Net of UNET.md laid out as one graph for a fixed batch and tile shape: the input copy,
/// every layer, and the loss.
final class UNetGraph {
    let graph: NetworkGraph
    /// The input in NHWC order; fill it, then run.
    let hostInput: DNNLMemory
    let loss: BinaryCrossEntropyLoss
    /// The 1×1 convolution that produces the logits.
    let head: ConvolutionLayer

    /// The implementations of the primitives that are oneDNN's reference code, 40–100× slower than
    /// its jit kernels (empty for every architecture and precision the tests build).
    var referencePrimitives: [String] {
        (graph.forwardSteps + graph.backwardSteps).compactMap { step in
            guard case .primitive(let call) = step, call.descriptor.implementation.hasPrefix("ref") else { return nil }
            return call.descriptor.implementation
        }
    }

    init(config: UNetConfig, parameters: [String: ParameterTensor], batch: Int, height: Int, width: Int,
         training: Bool, precision: Precision, convolutionAlgorithm: ConvolutionAlgorithm, engine: DNNLEngine,
         dropoutGenerator: DropoutGenerator) throws {
        let graph = NetworkGraph(engine: engine, training: training, precision: precision, dropoutGenerator: dropoutGenerator)
        self.graph = graph
        graph.blockedConvolutionOutputs = convolutionAlgorithm == .winograd
        func parameter(_ name: String) throws -> ParameterTensor {
            guard let tensor = parameters[name] else { throw UNetError("the model has no parameter \(name)") }
            return tensor
        }
        func convolution(_ name: String, _ x: Activation) throws -> Activation {
            let kernel = try parameter("\(name).kernel"), bias = try parameter("\(name).bias")
            if convolutionAlgorithm == .winograd,
               WinogradConvolutionLayer.applies(to: x, kernelSize: 3, outChannels: kernel.kerasShape[3], graph: graph) {
                return try WinogradConvolutionLayer(graph: graph, input: x, kernel: kernel, bias: bias, relu: true).output
            }
            let patchProduct = convolutionAlgorithm == .winograd
                && PatchProductConvolution.applies(to: x, kernelSize: 3, outChannels: kernel.kerasShape[3], graph: graph)
            return try ConvolutionLayer(graph: graph, input: x, kernel: kernel, bias: bias, relu: true, patchProduct: patchProduct).output
        }
        func convolutions(_ prefix: String, _ x: Activation) throws -> Activation {
            try convolution("\(prefix).conv2", convolution("\(prefix).conv1", x))
        }
        func normalization(_ prefix: String, _ x: Activation) throws -> Activation {
            try BatchNormalizationLayer(graph: graph, input: x, gamma: parameter("\(prefix).bn.gamma"), beta: parameter("\(prefix).bn.beta"),
                                        movingMean: parameter("\(prefix).bn.moving_mean"),
                                        movingVariance: parameter("\(prefix).bn.moving_variance")).output
        }
        func dropout(_ x: Activation) throws -> Activation {
            guard training, config.dropout > 0 else { return x }
            return try DropoutLayer(graph: graph, input: x, rate: config.dropout).output
        }

        let inputDims = [batch, config.nChannels, height, width]
        hostInput = try DNNLMemory(.nhwc(batch, config.nChannels, height, width), engine: engine)
        let inputLayout = try ConvolutionLayer.preferredSource(graph: graph, dims: inputDims, outChannels: config.encoderFilters(1), kernelSize: 3)
        var x = try graph.activation(inputLayout, needsGradient: false)
        graph.append(try PrimitiveCall.reorder(from: hostInput, to: x.value, engine: engine))

        let depth = config.depth
        /// Channels of decoder level j's upsampled tensor, the first part of its concatenation.
        func upsampledChannels(_ level: Int) throws -> Int {
            config.upsampling == .transpose ? try parameter("dec\(level).up.kernel").kerasShape[2] : config.decoderInputChannels(level)
        }
        /// Encoder level j's skip connection and, when its convolution pooled it on the way, the
        /// next level's input. Predicting with Winograd, the convolution writes the skip straight
        /// into the buffer of the concatenation that will use it and pools it in the same pass.
        func skipConnection(_ level: Int, _ x: Activation) throws -> (skip: Activation, pooled: Activation?) {
            let name = "enc\(level).conv2"
            let kernel = try parameter("\(name).kernel"), bias = try parameter("\(name).bias")
            let outChannels = kernel.kerasShape[3]
            guard !training, convolutionAlgorithm == .winograd,
                  WinogradConvolutionLayer.applies(to: x, kernelSize: 3, outChannels: outChannels, graph: graph),
                  let block = WinogradConvolutionLayer.outputBlock(input: x, outChannels: outChannels) else {
                return (try convolution(name, x), nil)
            }
            let skipDims = [x.batch, outChannels, x.height, x.width]
            let upChannels = try upsampledChannels(depth - level + 1)
            let buffer = try graph.activation(ConcatenationLayer.layout(firstChannels: upChannels, secondDims: skipDims, secondBlock: block))
            let view = try Activation(view: buffer.descriptor.submemory(dims: skipDims, offsets: [0, upChannels, 0, 0]), of: buffer,
                                      engine: engine)
            let layer = try WinogradConvolutionLayer(graph: graph, input: x, kernel: kernel, bias: bias, relu: true,
                                                     destination: view, pools: true)
            return (layer.output, layer.pooledOutput)
        }

        var skips: [Activation] = []
        var pooled: Activation?
        for level in 1...(depth + 1) {
            if level >= 2 { x = try pooled ?? MaxPoolingLayer(graph: graph, input: x).output }
            if level >= 3 { x = try dropout(x) }
            if level >= 2 && level <= depth { x = try normalization("enc\(level)", x) }
            x = try convolution("enc\(level).conv1", x)
            if level <= depth {
                (x, pooled) = try skipConnection(level, x)
                skips.append(x)
            } else {
                x = try convolution("enc\(level).conv2", x)
            }
        }
        for level in 1...depth {
            let below = x
            let upChannels = try upsampledChannels(level)
            x = try ConcatenationLayer(graph: graph, firstChannels: upChannels, second: skips[depth - level]) { destination in
                switch config.upsampling {
                case .transpose:
                    try TransposedConvolutionLayer(graph: graph, input: below, kernel: parameter("dec\(level).up.kernel"),
                                                   bias: parameter("dec\(level).up.bias"), destination: destination).output
                case .nearest:
                    // oneDNN's resampling into a strided view would run its reference code.
                    try NearestUpsamplingLayer(graph: graph, input: below).output
                }
            }.output
            if level <= depth - 1 { x = try normalization("dec\(level)", x) }
            x = try convolutions("dec\(level)", x)
            if level <= depth - 1 { x = try dropout(x) }
        }
        // The head stays in f32 under bf16: its logits decide the classes, and it costs 0.5 % of a
        // step. With the head's input and weights rounded to bf16 too, 99.43 % of the demo model's
        // pixels kept their f32 class; with the head in f32, 99.78 % (scripts/bf16-agreement.py; the
        // demo model retrained since gives 99.61 % and 99.75 %).
        head = try ConvolutionLayer(graph: graph, input: x, kernel: parameter("head.kernel"), bias: parameter("head.bias"), relu: false,
                                    precision: .f32)
        loss = try BinaryCrossEntropyLoss(graph: graph, logits: head.output, classWeights: config.classWeights)
        if training { try graph.buildBackward() }
    }
}
