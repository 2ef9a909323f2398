import CDNNL
import Testing
@testable import UNet

/// Convolutions in bf16 on a CPU with bf16 arithmetic (AVX-512 BF16 or AMX): bf16 copies of the
/// input, kernel and output gradient, f32 accumulation and f32 results, against the Float64
/// reference. Elsewhere `--precision bf16` computes in f32 and there is nothing to check here.
@Suite(.enabled(if: (try? DNNLEngine())?.computesBF16Natively == true, "this CPU has no bf16 arithmetic"))
struct BF16ConvolutionTests {
    /// bf16 keeps 8 significant bits: each rounded input and kernel value is off by up to 2⁻⁹
    /// of itself, so sums of a few hundred such products land within about 1e-2 of their scale.
    static let tolerance = 1e-2

    @Test(arguments: [
        ([2, 12, 10, 16], 32, dnnl_nChw16c, false),
        ([1, 9, 7, 24], 16, dnnl_nhwc, true),
        ([2, 8, 8, 8], 32, dnnl_nchw, false),
    ])
    func aLayerMatchesTheReferenceAndRunsInBF16(case: ([Int], Int, dnnl_format_tag_t, Bool)) throws {
        // Without the ReLU: outputs near zero that bf16 rounds across it would switch the
        // reference's gradient mask, and the ReLU's backward pass is f32 anyway.
        let relu = false
        let (shape, outChannels, tag, accumulates) = `case`
        let check = ConvolutionGradientCase(shape: shape, outChannels: outChannels, relu: relu, accumulates: accumulates, seed: 131)
        let harness = try LayerHarness(training: true)
        let input = try harness.input(check.x, shape, tag: tag)
        let kernel = try harness.parameter("test.conv.kernel", check.kernelShape, check.kernel)
        let bias = try harness.parameter("test.conv.bias", [outChannels], check.bias)
        let layer = try ConvolutionLayer(graph: harness.graph, input: input, kernel: kernel, bias: bias, relu: relu, precision: .bf16)
        #expect(layer.forward.memory(dnnl_query_src_md).type == dnnl_bf16)
        #expect(layer.forward.memory(dnnl_query_weights_md).type == dnnl_bf16)
        #expect(layer.output.descriptor.type == dnnl_f32)
        try check.expectLayerMatches(harness, input: input, output: layer.output, kernel: kernel, bias: bias, tolerance: Self.tolerance)
        // Rounding to bf16 shows: an f32 convolution would be within 1e-6.
        #expect(relativeError(try harness.read(layer.output.value), check.forward.y) > 1e-5)
        let steps = harness.graph.forwardSteps + harness.graph.backwardSteps
        for case .primitive(let call) in steps {
            #expect(!call.descriptor.implementation.hasPrefix("ref"))
        }
    }

    /// Predicting, images of 40×40 pixels and more go to f32 Winograd and smaller ones to bf16
    /// direct convolutions; training runs every 3×3 convolution in bf16.
    @Test(arguments: [false, true]) func largeLevelsPredictByWinogradAndTheRestInBF16(training: Bool) throws {
        let config = UNetConfig(nClasses: 3, nChannels: 8, tileSize: 80, nFiltersStart: 32, growthFactor: 2, depth: 2,
                                upsampling: .transpose, dropout: 0, classWeights: [0.2, 0.5, 0.3])
        let model = try UNetModel(config: config, seed: 3, precision: .bf16)
        let built = try model.graph(batch: 1, height: 80, width: 80, training: training)
        let winograd = built.graph.layers.compactMap { $0 as? WinogradConvolutionLayer }
        let direct = built.graph.layers.compactMap { $0 as? ConvolutionLayer }.filter { $0 !== built.head }
        #expect(winograd.count == (training ? 0 : 7))
        #expect(direct.count == (training ? 10 : 3))
        for layer in direct {
            #expect(layer.forward.memory(dnnl_query_src_md).type == dnnl_bf16)
            #expect(training || layer.input.height <= 20 || layer.input.channels == 8)
        }
        // The upsampling's 1×1 convolutions read bf16 predicting; training keeps them f32.
        let upsampling = built.graph.layers.compactMap { $0 as? TransposedConvolutionLayer }
        #expect(upsampling.count == 2)
        for layer in upsampling {
            #expect(layer.forward.memory(dnnl_query_src_md).type == (training ? dnnl_f32 : dnnl_bf16))
        }
    }

    /// A whole network in bf16 against f32: the same model, probabilities within bf16's rounding.
    @Test func aWholeNetworkAgreesWithF32() throws {
        let config = UNetConfig(nClasses: 3, nChannels: 8, tileSize: 32, nFiltersStart: 16, growthFactor: 2, depth: 2,
                                upsampling: .transpose, dropout: 0, classWeights: [0.2, 0.5, 0.3])
        let f32 = try UNetModel(config: config, seed: 17)
        let bf16 = try UNetModel(config: config, seed: 17, precision: .bf16)
        let input = HostTensor(shape: [2, 32, 32, 8], values: randomValues(2 * 32 * 32 * 8, seed: 19).map(Float.init))
        let difference = maximumDifference(try bf16.forward(input), try f32.forward(input))
        #expect(difference < 2e-2)
        #expect(difference > 1e-6, "the bf16 convolutions did not run")
    }
}
