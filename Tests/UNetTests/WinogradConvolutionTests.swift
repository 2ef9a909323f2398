import CDNNL
import Testing
@testable import UNet

/// The Winograd convolution against the Float64 reference convolution, forward and backward, on
/// shapes with whole and partial 4×4 tiles, and inside a whole network (inference and a training
/// step) against oneDNN's direct convolution.
@Suite struct WinogradConvolutionTests {
    /// F(4×4, 3×3)'s transforms scale values by up to 8 and back, so its f32 rounding is about ten
    /// times that of a direct convolution: a few 1e-6 of the output's scale here; a wrong transform
    /// coefficient gives errors of order 1.
    static let tolerance = 2e-5

    /// The matrix products each layer test runs with: `PanelProduct` where this CPU has AVX2, and
    /// oneDNN's matmul, which AVX-512 CPUs use.
    static let products = PanelProduct.supported ? [true, false] : [false]

    @Test func kernelTransformReproducesADirectConvolutionOfOnePatch() {
        // One 6×6 patch and one kernel: Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A must equal the 4×4 correlation.
        let g = randomValues(9, seed: 11)
        let d = randomValues(36, seed: 12)
        let u = WinogradTransform.kernel(g)
        let bt: [[Double]] = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                              [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]
        let at: [[Double]] = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]
        var v = [Double](repeating: 0, count: 36)
        for i in 0..<6 { for j in 0..<6 { for k in 0..<6 { for l in 0..<6 { v[i * 6 + j] += bt[i][k] * d[k * 6 + l] * bt[j][l] } } } }
        var worst = 0.0
        for a in 0..<4 {
            for b in 0..<4 {
                var y = 0.0
                for i in 0..<6 { for j in 0..<6 { y += at[a][i] * u[i * 6 + j] * v[i * 6 + j] * at[b][j] } }
                var direct = 0.0
                for r in 0..<3 { for c in 0..<3 { direct += g[r * 3 + c] * d[(a + r) * 6 + b + c] } }
                worst = max(worst, abs(y - direct))
            }
        }
        #expect(worst < 1e-12)
    }

    @Test(arguments: [
        ([2, 16, 16, 16], 8, true, dnnl_nChw8c),     // whole tiles
        ([1, 10, 14, 24], 16, false, dnnl_nChw8c),   // partial tiles on both sides, no ReLU
        ([3, 9, 8, 16], 24, true, dnnl_nChw8c),      // an odd height
        ([2, 11, 13, 32], 16, true, dnnl_nChw16c),   // AVX-512's blocking, kept for the output
        ([1, 9, 10, 16], 24, false, dnnl_nChw16c),   // 16-blocked input, 8-blocked output
    ], Self.products)
    func matchesTheReferenceConvolution(case: ([Int], Int, Bool, dnnl_format_tag_t), panels: Bool) throws {
        let (shape, outChannels, relu, tag) = `case`
        let reference = ConvolutionCase(shape: shape, outChannels: outChannels, relu: relu, seed: 21)

        let harness = try LayerHarness(training: false)
        harness.graph.winogradPanelProducts = panels
        let input = try harness.input(reference.x, shape, tag: tag)
        let layer = try WinogradConvolutionLayer(graph: harness.graph, input: input,
                                                 kernel: harness.parameter("test.conv.kernel", reference.kernelShape, reference.kernel),
                                                 bias: harness.parameter("test.conv.bias", [outChannels], reference.bias), relu: relu)
        let outputBlock = tag == dnnl_nChw16c && outChannels % 16 == 0 ? 16 : 8
        #expect(layer.output.descriptor.innerBlock == outputBlock)
        try harness.graph.runForward()
        let error = relativeError(try harness.read(layer.output.value), reference.y)
        #expect(error < Self.tolerance, "relative error \(error)")
    }

    /// Predicting, a skip connection's convolution writes into its concatenation's buffer, after
    /// the upsampled channels, and pools on the way: whole tiles, partial tiles, odd sizes (the
    /// last row and column are not pooled) and AVX-512's blocking.
    @Test(arguments: [
        ([2, 16, 16, 16], 16, dnnl_nChw8c),
        ([1, 10, 14, 24], 16, dnnl_nChw8c),
        ([3, 9, 11, 16], 24, dnnl_nChw8c),
        ([2, 11, 13, 32], 16, dnnl_nChw16c),
    ], Self.products)
    func writesIntoAConcatenationAndPools(case: ([Int], Int, dnnl_format_tag_t), panels: Bool) throws {
        let (shape, outChannels, tag) = `case`
        let kernelShape = [3, 3, shape[3], outChannels]
        let x = randomValues(shape.reduce(1, *), seed: 24)
        let kernel = randomValues(kernelShape.reduce(1, *), seed: 25).map { $0 * 0.3 }
        let bias = randomValues(outChannels, seed: 26).map { $0 * 0.1 }
        let expected = ReferenceLayers.convolution(x, shape, kernel: kernel, kernelShape: kernelShape, bias: bias, relu: true)
        let outputShape = [shape[0], shape[1], shape[2], outChannels]
        let expectedPooling = ReferenceLayers.maxPool(expected, outputShape).y

        let harness = try LayerHarness(training: false)
        harness.graph.winogradPanelProducts = panels
        let input = try harness.input(x, shape, tag: tag)
        let block = try #require(WinogradConvolutionLayer.outputBlock(input: input, outChannels: outChannels))
        let skipDims = [shape[0], outChannels, shape[1], shape[2]]
        let buffer = try harness.graph.activation(ConcatenationLayer.layout(firstChannels: block, secondDims: skipDims, secondBlock: block))
        let view = try Activation(view: buffer.descriptor.submemory(dims: skipDims, offsets: [0, block, 0, 0]), of: buffer,
                                  engine: harness.engine)
        let layer = try WinogradConvolutionLayer(graph: harness.graph, input: input,
                                                 kernel: harness.parameter("test.conv.kernel", kernelShape, kernel),
                                                 bias: harness.parameter("test.conv.bias", [outChannels], bias), relu: true,
                                                 destination: view, pools: true)
        #expect(layer.output === view)
        let pooled = try #require(layer.pooledOutput)
        #expect(pooled.dims == [shape[0], outChannels, shape[1] / 2, shape[2] / 2])
        // The upsampled channels' part of the buffer must stay as it was.
        let firstPart = try buffer.descriptor.submemory(dims: [shape[0], block, shape[1], shape[2]], offsets: [0, 0, 0, 0])
        let marker = [Double](repeating: 7, count: shape[0] * shape[1] * shape[2] * block)
        try harness.write(marker, [shape[0], shape[1], shape[2], block], into: DNNLMemory(view: firstPart, of: buffer.value, engine: harness.engine))
        try harness.graph.runForward()
        let error = relativeError(try harness.read(layer.output.value), expected)
        #expect(error < Self.tolerance, "relative error \(error)")
        #expect(relativeError(try harness.read(pooled.value), expectedPooling) < Self.tolerance)
        #expect(try harness.read(DNNLMemory(view: firstPart, of: buffer.value, engine: harness.engine)) == marker)
    }

    @Test func aTrainingGraphKeepsItsOwnOutputAndDoesNotPool() throws {
        let harness = try LayerHarness(training: true)
        let shape = [1, 8, 8, 16]
        let input = try harness.input(randomValues(shape.reduce(1, *), seed: 27), shape, tag: dnnl_nChw8c)
        let kernel = try harness.parameter("test.conv.kernel", [3, 3, 16, 8], randomValues(9 * 16 * 8, seed: 28))
        let bias = try harness.parameter("test.conv.bias", [8], randomValues(8, seed: 29))
        let skipDims = [1, 8, 8, 8]
        let buffer = try harness.graph.activation(ConcatenationLayer.layout(firstChannels: 8, secondDims: skipDims, secondBlock: 8))
        let view = try Activation(view: buffer.descriptor.submemory(dims: skipDims, offsets: [0, 8, 0, 0]), of: buffer, engine: harness.engine)
        let layer = try WinogradConvolutionLayer(graph: harness.graph, input: input, kernel: kernel, bias: bias, relu: true, destination: view)
        #expect(layer.output !== view)
        #expect(throws: UNetError.self) {
            try WinogradConvolutionLayer(graph: harness.graph, input: input, kernel: kernel, bias: bias, relu: true, pools: true)
        }
    }

    @Test func newParameterValuesAreTransformedAgain() throws {
        let shape = [1, 8, 8, 16], kernelShape = [3, 3, 16, 8]
        let x = randomValues(shape.reduce(1, *), seed: 31)
        let first = randomValues(kernelShape.reduce(1, *), seed: 32), second = randomValues(kernelShape.reduce(1, *), seed: 33)
        let bias = [Double](repeating: 0, count: 8)
        let harness = try LayerHarness(training: false)
        let kernel = try harness.parameter("test.conv.kernel", kernelShape, first)
        let layer = try WinogradConvolutionLayer(graph: harness.graph, input: harness.input(x, shape, tag: dnnl_nChw8c), kernel: kernel,
                                                 bias: harness.parameter("test.conv.bias", [8], bias), relu: false)
        try harness.graph.runForward()
        try kernel.setValues(second.map(Float.init))
        try harness.graph.runForward()
        let expected = ReferenceLayers.convolution(x, shape, kernel: second, kernelShape: kernelShape, bias: bias, relu: false)
        let error = relativeError(try harness.read(layer.output.value), expected)
        #expect(error < Self.tolerance, "relative error \(error)")
    }

    @Test func onlyActivationsBlockedBy8Or16ChannelsUseIt() throws {
        let inference = try LayerHarness(training: false), training = try LayerHarness(training: true)
        let values = [Double](repeating: 0, count: 2 * 16 * 16 * 16)
        let blocked = try inference.input(values, [2, 16, 16, 16], tag: dnnl_nChw8c)
        #expect(WinogradConvolutionLayer.applies(to: blocked, kernelSize: 3, outChannels: 32, graph: inference.graph))
        #expect(!WinogradConvolutionLayer.applies(to: blocked, kernelSize: 1, outChannels: 32, graph: inference.graph))
        #expect(!WinogradConvolutionLayer.applies(to: blocked, kernelSize: 3, outChannels: 36, graph: inference.graph))
        // Too few output channels for the smaller products to pay for the transforms.
        #expect(!WinogradConvolutionLayer.applies(to: blocked, kernelSize: 3, outChannels: 16, graph: inference.graph))
        #expect(!WinogradConvolutionLayer.applies(to: try inference.input(values, [2, 16, 16, 16], tag: dnnl_nhwc),
                                                  kernelSize: 3, outChannels: 32, graph: inference.graph))
        #expect(WinogradConvolutionLayer.applies(to: try inference.input(values, [2, 16, 16, 16], tag: dnnl_nChw16c),
                                                 kernelSize: 3, outChannels: 32, graph: inference.graph))
        // 24 channels in blocks of 16: the last block is padded, which the transforms do not read.
        let padded = try inference.input([Double](repeating: 0, count: 2 * 16 * 16 * 24), [2, 16, 16, 24], tag: dnnl_nChw16c)
        #expect(!WinogradConvolutionLayer.applies(to: padded, kernelSize: 3, outChannels: 32, graph: inference.graph))
        #expect(WinogradConvolutionLayer.applies(to: try training.input(values, [2, 16, 16, 16], tag: dnnl_nChw8c),
                                                  kernelSize: 3, outChannels: 32, graph: training.graph))
        // 5×5 would compute 8×8 per image: too much of it outside the image to pay.
        let small = try inference.input([Double](repeating: 0, count: 5 * 5 * 16), [1, 5, 5, 16], tag: dnnl_nChw8c)
        #expect(!WinogradConvolutionLayer.applies(to: small, kernelSize: 3, outChannels: 32, graph: inference.graph))
    }

    /// The training layer's input, kernel and bias gradients against the Float64 reference, with
    /// partial tiles, with and without ReLU, and with the input gradient added to one that another
    /// consumer wrote before.
    @Test(arguments: [
        ([2, 10, 9, 40], 8, true, false, dnnl_nChw8c),     // 40 blocks of 8 channel pairs: a partial group of them
        ([1, 9, 14, 24], 16, false, false, dnnl_nChw8c),
        ([2, 8, 11, 16], 24, true, true, dnnl_nChw8c),
        ([2, 9, 10, 32], 16, true, true, dnnl_nChw16c),
        ([1, 10, 8, 16], 24, false, false, dnnl_nChw16c),  // 16-blocked input, 8-blocked output
    ], Self.products)
    func trainingGradientsMatchTheReference(case: ([Int], Int, Bool, Bool, dnnl_format_tag_t), panels: Bool) throws {
        let (shape, outChannels, relu, accumulates, tag) = `case`
        let check = ConvolutionGradientCase(shape: shape, outChannels: outChannels, relu: relu, accumulates: accumulates, seed: 51)

        let harness = try LayerHarness(training: true)
        harness.graph.winogradPanelProducts = panels
        let input = try harness.input(check.x, shape, tag: tag)
        let kernelParameter = try harness.parameter("test.conv.kernel", check.kernelShape, check.kernel)
        let biasParameter = try harness.parameter("test.conv.bias", [outChannels], check.bias)
        let layer = try WinogradConvolutionLayer(graph: harness.graph, input: input, kernel: kernelParameter, bias: biasParameter, relu: relu)
        try check.expectLayerMatches(harness, input: input, output: layer.output, kernel: kernelParameter, bias: biasParameter,
                                     tolerance: Self.tolerance)
    }

    /// The kernel and bias gradients over several chunks of tiles, the last one shorter (its
    /// matmul must not add the rows a previous chunk left behind) or not, against the Float64
    /// reference.
    @Test(arguments: [(16, 8), (7, 16), (8, 8)], Self.products)   // 40 tiles: 16 + 16 + 8, 5 × 7 + 5, and 5 × 8
    func kernelGradientOverSeveralChunksMatchesTheReference(chunking: (Int, Int), panels: Bool) throws {
        let (chunkTiles, channelBlock) = chunking
        let shape = [2, 13, 18, 16], outChannels = 32
        let tag = channelBlock == 16 ? dnnl_nChw16c : dnnl_nChw8c
        let kernelShape = [3, 3, shape[3], outChannels]
        let x = randomValues(shape.reduce(1, *), seed: 61)
        let kernel = randomValues(kernelShape.reduce(1, *), seed: 62)
        let dy = randomValues(shape[0] * shape[1] * shape[2] * outChannels, seed: 63)
        let y = [Double](repeating: 1, count: dy.count)
        let expected = ReferenceLayers.convolutionBackward(x, shape, kernel: kernel, kernelShape: kernelShape, y: y, dy: dy, relu: false)

        let harness = try LayerHarness(training: true)
        let input = try harness.input(x, shape, tag: tag)
        let outputGradient = try harness.input(dy, [shape[0], shape[1], shape[2], outChannels], tag: tag)
        let gradient = try WinogradKernelGradient(engine: harness.engine, batch: shape[0], height: shape[1], width: shape[2],
                                                  inChannels: shape[3], outChannels: outChannels,
                                                  channelBlocks: (channelBlock, channelBlock), workspace: harness.graph.winogradWorkspace,
                                                  panelProducts: panels, maximumChunkTiles: chunkTiles)
        #expect(gradient.geometry.chunkTiles == chunkTiles)
        let kernelGradient = try DNNLMemory(MemoryDescriptor(dims: [outChannels, shape[3], 3, 3], tag: dnnl_hwio), engine: harness.engine)
        let biasGradient = try DNNLMemory(MemoryDescriptor(dims: [outChannels], tag: dnnl_x), engine: harness.engine)
        // Twice: the second run must not build on the first one's sums.
        for _ in 0..<2 {
            try gradient.run(input: input.value, outputGradient: outputGradient.value, kernelGradient: kernelGradient, biasGradient: biasGradient)
        }
        // hwio memory is Keras's (3, 3, in, out) order, the reference's.
        let kernelError = relativeError(kernelGradient.floats.map(Double.init), expected.dKernel)
        let biasError = relativeError(biasGradient.floats.map(Double.init), expected.dBias)
        #expect(kernelError < Self.tolerance, "kernel gradient: relative error \(kernelError)")
        #expect(biasError < Self.tolerance, "bias gradient: relative error \(biasError)")
    }

    /// Two training steps (the second with kernels Adam has changed, so transformed again) of a
    /// network whose 3×3 convolutions are mostly Winograd ones, against the same network on
    /// oneDNN's direct convolutions. Without dropout: its masks follow the activations' memory
    /// layout, which differs between the two (nChw8c after a Winograd layer).
    @Test(arguments: Upsampling.allCases)
    func aWholeNetworkTrainsLikeDirectConvolution(upsampling: Upsampling) throws {
        // Two f32 networks agree to rounding only while no pre-activation lies within rounding of
        // zero: one that takes the other side of a ReLU in one of them (seed 5 has one in its
        // first step) moves every gradient upstream of it by up to a few percent. This seed has
        // none; the layer tests check the gradients element by element.
        let seed: UInt64 = 6
        let config = UNetConfig(nClasses: 3, nChannels: 4, tileSize: 32, nFiltersStart: 16, growthFactor: 2, depth: 2,
                                upsampling: upsampling, dropout: 0, classWeights: [0.2, 0.5, 0.3])
        let direct = try UNetModel(config: config, seed: seed, convolutionAlgorithm: .direct)
        let winograd = try UNetModel(config: config, seed: seed, convolutionAlgorithm: .winograd)
        let (n, side) = (1, 32)
        let input = HostTensor(shape: [n, side, side, 4], values: randomValues(n * side * side * 4, seed: 61).map(Float.init))
        let targets = HostTensor(shape: [n, side, side, 3], values: randomValues(n * side * side * 3, seed: 62).map { $0 > 0.2 ? 1 : 0 })
        for step in 1...2 {
            let directLoss = try direct.trainStep(input: input, targets: targets)
            let winogradLoss = try winograd.trainStep(input: input, targets: targets)
            #expect(abs(winogradLoss - directLoss) / directLoss < 1e-4, "step \(step): loss \(winogradLoss) against \(directLoss)")
            let expected = direct.gradients(), actual = winograd.gradients()
            func norm(_ values: [Float]) -> Double { values.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot() }
            let overall = expected.values.map { norm($0.values) }.max() ?? 0
            var largestDifference: Float = 0
            for (name, gradient) in expected.sorted(by: { $0.key < $1.key }) {
                guard let computed = actual[name] else {
                    Issue.record("no gradient for \(name)")
                    continue
                }
                largestDifference = max(largestDifference, maximumDifference(computed, gradient))
                // Relative to the tensor's norm, or to a hundredth of the largest for tensors
                // whose gradient vanishes (a bias just before a batch normalisation).
                let error = norm(zip(computed.values, gradient.values).map { $0 - $1 }) / max(norm(gradient.values), 1e-2 * overall)
                #expect(error < 1e-4, "step \(step): \(name) gradient differs by \(error) of its norm")
            }
            #expect(largestDifference > 0, "the Winograd layers did not run")
            // The next step starts from the same weights and moments, so that it compares the
            // convolutions again rather than two diverging trajectories.
            let state = winograd.optimizerState()
            try direct.setParameters(winograd.parameters())
            try direct.setOptimizerState(step: state.step, m: state.m, v: state.v)
        }
    }

    @Test(arguments: Upsampling.allCases)
    func aWholeNetworkAgreesWithDirectConvolution(upsampling: Upsampling) throws {
        let config = UNetConfig(nClasses: 3, nChannels: 4, tileSize: 48, nFiltersStart: 16, growthFactor: 2, depth: 2,
                                upsampling: upsampling, dropout: 0.25, classWeights: [0.2, 0.5, 0.3])
        let model = try UNetModel(config: config, seed: 5, convolutionAlgorithm: .direct)
        let input = HostTensor(shape: [2, 48, 48, 4], values: randomValues(2 * 48 * 48 * 4, seed: 41).map(Float.init))
        let direct = try model.forward(input)
        model.convolutionAlgorithm = .winograd
        let winograd = try model.forward(input)
        #expect(maximumDifference(winograd, direct) < 1e-5)
        #expect(maximumDifference(winograd, direct) > 0, "the Winograd layers did not run")
    }

    /// Every 3×3 convolution but the first (8 input channels) qualifies, whatever layout oneDNN
    /// would pick for its own convolutions here (channel-last for inference on AVX-512).
    @Test(arguments: [false, true]) func everyQualifyingLayerOfAModelRunsWinograd(training: Bool) throws {
        let config = UNetConfig(nClasses: 3, nChannels: 8, tileSize: 32, nFiltersStart: 32, growthFactor: 2, depth: 2,
                                upsampling: .transpose, dropout: 0, classWeights: [0.2, 0.5, 0.3])
        let model = try UNetModel(config: config, seed: 5, convolutionAlgorithm: .winograd)
        let built = try model.graph(batch: 2, height: 32, width: 32, training: training)
        #expect(built.graph.layers.filter { $0 is WinogradConvolutionLayer }.count == 9)
    }

    @Test func graphsOfEveryBatchSizeShareTheTransformedKernelsAndSeeNewParameters() throws {
        let config = UNetConfig(nClasses: 2, nChannels: 3, tileSize: 32, nFiltersStart: 16, growthFactor: 2, depth: 1,
                                upsampling: .transpose, dropout: 0, classWeights: [0.5, 0.5])
        _ = try expectGraphsOfTwoBatchSizesAgreeWithDirect(config, seed: 8, newSeed: 9, inputSeed: 61)
    }
}
