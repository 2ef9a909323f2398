import CDNNL
import Testing
@testable import UNet

/// Small images' 3×3 convolutions as patch products by the panel kernel (the forward pass, and in
/// training the input gradient), against the Float64 reference convolution layer by layer, and
/// inside whole networks against oneDNN's direct convolution.
@Suite(.enabled(if: PanelProduct.supported, "the patch product needs the AVX2 panel kernel"))
struct PatchProductConvolutionTests {
    /// Sums in another order than the reference: f32 rounding of the 9·in-term dot products.
    static let tolerance = 1e-5

    @Test(arguments: [
        ([2, 5, 5, 16], 24, true, dnnl_nChw8c, false),     // the 5×5 level's shape; an 8-wide last panel
        ([1, 3, 4, 24], 16, false, dnnl_nChw8c, false),    // no ReLU: negative outputs kept
        ([3, 5, 5, 32], 40, true, dnnl_nChw16c, false),    // AVX-512's blocking, 3 panels
        ([2, 5, 5, 16], 24, true, dnnl_nChw8c, true),      // a training graph's forward pass
        ([1, 2, 3, 8], 8, true, dnnl_nChw16c, true),       // channels padded in a 16-block, one 8-wide panel
    ])
    func matchesTheReferenceConvolution(case: ([Int], Int, Bool, dnnl_format_tag_t, Bool)) throws {
        let (shape, outChannels, relu, tag, training) = `case`
        let reference = ConvolutionCase(shape: shape, outChannels: outChannels, relu: relu, seed: 71)

        let harness = try LayerHarness(training: training)

        harness.graph.winogradPanelProducts = true  // oneDNN's matmul is preferred on AVX-512
        let input = try harness.input(reference.x, shape, tag: tag)
        #expect(PatchProductConvolution.applies(to: input, kernelSize: 3, outChannels: outChannels, graph: harness.graph))
        let layer = try ConvolutionLayer(graph: harness.graph, input: input,
                                         kernel: harness.parameter("test.conv.kernel", reference.kernelShape, reference.kernel),
                                         bias: harness.parameter("test.conv.bias", [outChannels], reference.bias), relu: relu, patchProduct: true)
        try harness.graph.runForward()
        let error = relativeError(try harness.read(layer.output.value), reference.y)
        #expect(error < Self.tolerance, "relative error \(error)")
        #expect(!relu || reference.y.contains(0), "the case should exercise the ReLU")
    }

    /// Predicting, a kernel of whole 16-column panels is kept in the panels' order (nothing is
    /// packed); any other is packed into panels kept with the parameter. Either way new values
    /// must reach the product.
    @Test(arguments: [32, 24])
    func newKernelValuesReachTheProduct(outChannels: Int) throws {
        let shape = [2, 5, 5, 16], kernelShape = [3, 3, 16, outChannels]
        let x = randomValues(shape.reduce(1, *), seed: 101)
        let first = randomValues(kernelShape.reduce(1, *), seed: 102), second = randomValues(kernelShape.reduce(1, *), seed: 103)
        let bias = [Double](repeating: 0, count: outChannels)
        let harness = try LayerHarness(training: false)
        harness.graph.winogradPanelProducts = true  // oneDNN's matmul is preferred on AVX-512
        let kernel = try harness.parameter("test.conv.kernel", kernelShape, first)
        let layer = try ConvolutionLayer(graph: harness.graph, input: harness.input(x, shape, tag: dnnl_nChw8c), kernel: kernel,
                                         bias: harness.parameter("test.conv.bias", [outChannels], bias), relu: false, patchProduct: true)
        let panelOrder = try MemoryDescriptor(dims: [outChannels, 16, 3, 3], tag: dnnl_Ohwi16o)
        #expect(kernel.master?.descriptor.sameLayout(as: panelOrder) == (outChannels % 16 == 0))
        for values in [first, second] {
            if values == second { try kernel.setValues(values.map(Float.init)) }
            try harness.graph.runForward()
            let expected = ReferenceLayers.convolution(x, shape, kernel: values, kernelShape: kernelShape, bias: bias, relu: false)
            let error = relativeError(try harness.read(layer.output.value), expected)
            #expect(error < Self.tolerance, "relative error \(error)")
        }
    }

    @Test func appliesToSmallImagesOnlyAndNeedsThePanelKernel() throws {
        let harness = try LayerHarness(training: false)
        harness.graph.winogradPanelProducts = true  // oneDNN's matmul is preferred on AVX-512
        func input(_ height: Int, _ width: Int) throws -> Activation {
            try harness.input([Double](repeating: 0, count: height * width * 16), [1, height, width, 16], tag: dnnl_nChw8c)
        }
        #expect(PatchProductConvolution.applies(to: try input(5, 5), kernelSize: 3, outChannels: 32, graph: harness.graph))
        #expect(!PatchProductConvolution.applies(to: try input(6, 5), kernelSize: 3, outChannels: 32, graph: harness.graph))
        #expect(!PatchProductConvolution.applies(to: try input(5, 5), kernelSize: 1, outChannels: 32, graph: harness.graph))
        #expect(!PatchProductConvolution.applies(to: try input(5, 5), kernelSize: 3, outChannels: 20, graph: harness.graph))
        harness.graph.winogradPanelProducts = false
        #expect(!PatchProductConvolution.applies(to: try input(5, 5), kernelSize: 3, outChannels: 32, graph: harness.graph))
    }

    /// Training with the forward pass and the input gradient by patch products: the input,
    /// kernel and bias gradients against the Float64 reference, the input gradient also added to
    /// one that another consumer wrote before, on a non-square image.
    @Test(arguments: [([2, 5, 5, 16], 24, false), ([1, 3, 4, 8], 16, true)])
    func trainingGradientsMatchTheReference(case: ([Int], Int, Bool)) throws {
        let (shape, outChannels, accumulates) = `case`
        let check = ConvolutionGradientCase(shape: shape, outChannels: outChannels, relu: true, accumulates: accumulates, seed: 81)

        let harness = try LayerHarness(training: true)

        harness.graph.winogradPanelProducts = true  // oneDNN's matmul is preferred on AVX-512
        let input = try harness.input(check.x, shape, tag: dnnl_nChw8c)
        let kernelParameter = try harness.parameter("test.conv.kernel", check.kernelShape, check.kernel)
        let biasParameter = try harness.parameter("test.conv.bias", [outChannels], check.bias)
        let layer = try ConvolutionLayer(graph: harness.graph, input: input, kernel: kernelParameter, bias: biasParameter, relu: true,
                                         patchProduct: true)
        try check.expectLayerMatches(harness, input: input, output: layer.output, kernel: kernelParameter, bias: biasParameter,
                                     tolerance: Self.tolerance)
    }

    /// A network whose bottom level is 5×5, so that the default algorithm runs its convolutions
    /// by patch product: inference graphs of two batch sizes share the packed kernels, and see
    /// new parameters; a training step's loss and gradients agree with direct convolution.
    @Test func aWholeNetworkAgreesWithDirectConvolution() throws {
        let config = UNetConfig(nClasses: 3, nChannels: 4, tileSize: 20, nFiltersStart: 16, growthFactor: 2, depth: 2,
                                upsampling: .transpose, dropout: 0, classWeights: [0.2, 0.5, 0.3])
        let (fast, direct, pair) = try expectGraphsOfTwoBatchSizesAgreeWithDirect(config, seed: 12, newSeed: 13, inputSeed: 91)

        let targets = HostTensor(shape: [2, 20, 20, 3], values: randomValues(2 * 20 * 20 * 3, seed: 92).map { $0 > 0.2 ? 1 : 0 })
        let fastLoss = try fast.trainStep(input: pair, targets: targets)
        let directLoss = try direct.trainStep(input: pair, targets: targets)
        #expect(abs(fastLoss - directLoss) / directLoss < 1e-4, "loss \(fastLoss) against \(directLoss)")
        let expected = direct.gradients(), actual = fast.gradients()
        for name in ["enc3.conv1.kernel", "enc3.conv2.kernel", "enc3.conv1.bias"] {
            guard let gradient = expected[name], let computed = actual[name] else {
                Issue.record("no gradient for \(name)")
                continue
            }
            let scale = gradient.values.map { abs($0) }.max() ?? 0
            #expect(maximumDifference(computed, gradient) <= 1e-3 * scale, "\(name) gradient")
        }
    }
}
