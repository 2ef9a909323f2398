import CDNNL
import Testing
@testable import UNet

/// Each layer twice over: the Float64 reference's analytic gradients against central finite
/// differences of the reference, and oneDNN's f32 forward and backward against the reference.
@Suite struct LayerGradientTests {
    static let referenceTolerance = 1e-6
    static let oneDNNTolerance = 1e-3

    /// 6×6 images take oneDNN's backward-weights convolution, 5×4 ones (at most 25 pixels) the
    /// patch product (`PatchProductKernelGradient`).
    @Test(arguments: [(3, true, dnnl_nChw8c, 6, 6), (1, false, dnnl_nhwc, 6, 6), (3, true, dnnl_nChw8c, 5, 4), (3, false, dnnl_nhwc, 5, 4),
                      (1, true, dnnl_nChw8c, 4, 5)])
    func convolution(kernelSize: Int, relu: Bool, tag: dnnl_format_tag_t, height: Int, width: Int) throws {
        let shape = [2, height, width, 3]
        let outChannels = 5
        let kernelShape = [kernelSize, kernelSize, 3, outChannels]
        let x = randomValues(shape.reduce(1, *), seed: 1)
        let kernel = randomValues(kernelShape.reduce(1, *), seed: 2)
        let bias = randomValues(outChannels, seed: 3).map { $0 * 0.1 }
        let y = ReferenceLayers.convolution(x, shape, kernel: kernel, kernelShape: kernelShape, bias: bias, relu: relu)
        let r = randomValues(y.count, seed: 4)
        let analytic = ReferenceLayers.convolutionBackward(x, shape, kernel: kernel, kernelShape: kernelShape, y: y, dy: r, relu: relu)
        func objective(_ x: [Double], _ k: [Double], _ b: [Double]) -> Double {
            projection(ReferenceLayers.convolution(x, shape, kernel: k, kernelShape: kernelShape, bias: b, relu: relu), r)
        }
        #expect(relativeError(analytic.dx, finiteDifferences(of: { objective($0, kernel, bias) }, at: x)) < Self.referenceTolerance)
        #expect(relativeError(analytic.dKernel, finiteDifferences(of: { objective(x, $0, bias) }, at: kernel)) < Self.referenceTolerance)
        #expect(relativeError(analytic.dBias, finiteDifferences(of: { objective(x, kernel, $0) }, at: bias)) < Self.referenceTolerance)

        let harness = try LayerHarness()
        let input = try harness.input(x, shape, tag: tag)
        let kernelParameter = try harness.parameter("test.conv.kernel", kernelShape, kernel)
        let biasParameter = try harness.parameter("test.conv.bias", [outChannels], bias)
        let layer = try ConvolutionLayer(graph: harness.graph, input: input, kernel: kernelParameter, bias: biasParameter, relu: relu)
        try Self.runAndCompare(harness, input: input, output: layer.output, y: y, outputGradient: r, dx: analytic.dx)
        #expect(relativeError(try kernelParameter.gradientValues().map(Double.init), analytic.dKernel) < Self.oneDNNTolerance)
        #expect(relativeError(try biasParameter.gradientValues().map(Double.init), analytic.dBias) < Self.oneDNNTolerance)
    }

    /// NHWC input shapes, output channels and input layouts: channel counts that fill no block
    /// (a channel-last packed tensor), whole blocks (a blocked one), 4·C in whole blocks but C not
    /// (the convolution is made to write channel-last), H ≠ W, a single row, and plain or
    /// 16-blocked inputs.
    @Test(arguments: [
        ([2, 3, 3, 4], 3, dnnl_nChw8c), ([2, 3, 5, 16], 16, dnnl_nChw8c), ([2, 3, 3, 16], 4, dnnl_nChw8c),
        ([1, 1, 3, 8], 6, dnnl_nChw8c), ([2, 4, 2, 5], 16, dnnl_nhwc), ([1, 2, 3, 16], 16, dnnl_nChw16c),
    ])
    func transposedConvolution(shape: [Int], outChannels: Int, tag: dnnl_format_tag_t) throws {
        let kernelShape = [2, 2, outChannels, shape[3]]
        let x = randomValues(shape.reduce(1, *), seed: 11)
        let kernel = randomValues(kernelShape.reduce(1, *), seed: 12)
        let bias = randomValues(outChannels, seed: 13)
        let y = ReferenceLayers.transposedConvolution(x, shape, kernel: kernel, outChannels: outChannels, bias: bias)
        let r = randomValues(y.count, seed: 14)
        let analytic = ReferenceLayers.transposedConvolutionBackward(x, shape, kernel: kernel, outChannels: outChannels, dy: r)
        func objective(_ x: [Double], _ k: [Double], _ b: [Double]) -> Double {
            projection(ReferenceLayers.transposedConvolution(x, shape, kernel: k, outChannels: outChannels, bias: b), r)
        }
        #expect(relativeError(analytic.dx, finiteDifferences(of: { objective($0, kernel, bias) }, at: x)) < Self.referenceTolerance)
        #expect(relativeError(analytic.dKernel, finiteDifferences(of: { objective(x, $0, bias) }, at: kernel)) < Self.referenceTolerance)
        #expect(relativeError(analytic.dBias, finiteDifferences(of: { objective(x, kernel, $0) }, at: bias)) < Self.referenceTolerance)

        let harness = try LayerHarness()
        let input = try harness.input(x, shape, tag: tag)
        let kernelParameter = try harness.parameter("test.up.kernel", kernelShape, kernel)
        let biasParameter = try harness.parameter("test.up.bias", [outChannels], bias)
        let layer = try TransposedConvolutionLayer(graph: harness.graph, input: input, kernel: kernelParameter, bias: biasParameter)
        try Self.runAndCompare(harness, input: input, output: layer.output, y: y, outputGradient: r, dx: analytic.dx)
        #expect(relativeError(try kernelParameter.gradientValues().map(Double.init), analytic.dKernel) < Self.oneDNNTolerance)
        #expect(relativeError(try biasParameter.gradientValues().map(Double.init), analytic.dBias) < Self.oneDNNTolerance)
    }

    @Test func nearestUpsampling() throws {
        let shape = [2, 3, 3, 3]
        let x = randomValues(shape.reduce(1, *), seed: 21)
        let y = ReferenceLayers.upsample(x, shape)
        let r = randomValues(y.count, seed: 22)
        let dx = ReferenceLayers.upsampleBackward(r, shape)
        #expect(relativeError(dx, finiteDifferences(of: { projection(ReferenceLayers.upsample($0, shape), r) }, at: x)) < Self.referenceTolerance)

        let harness = try LayerHarness()
        let input = try harness.input(x, shape, tag: dnnl_nChw8c)
        let layer = try NearestUpsamplingLayer(graph: harness.graph, input: input)
        try Self.runAndCompare(harness, input: input, output: layer.output, y: y, outputGradient: r, dx: dx)
    }

    /// Runs a one-input layer forward and backward and compares its output with the reference `y`
    /// and, for the output gradient `outputGradient`, its input gradient with the reference `dx`.
    static func runAndCompare(_ harness: LayerHarness, input: Activation, output: Activation, y: [Double],
                              outputGradient: [Double], dx: [Double]) throws {
        let forward = try harness.forwardAndBackward(output, outputGradient: outputGradient)
        #expect(relativeError(forward, y) < oneDNNTolerance)
        #expect(relativeError(try harness.gradient(of: input), dx) < oneDNNTolerance)
    }

    @Test func maxPooling() throws {
        let shape = [2, 6, 6, 3]
        let x = randomValues(shape.reduce(1, *), seed: 31)
        let (y, argmax) = ReferenceLayers.maxPool(x, shape)
        let r = randomValues(y.count, seed: 32)
        let dx = ReferenceLayers.maxPoolBackward(r, argmax: argmax, inputCount: x.count)
        #expect(relativeError(dx, finiteDifferences(of: { projection(ReferenceLayers.maxPool($0, shape).y, r) }, at: x)) < Self.referenceTolerance)

        let harness = try LayerHarness()
        let input = try harness.input(x, shape, tag: dnnl_nChw8c)
        let layer = try MaxPoolingLayer(graph: harness.graph, input: input)
        try Self.runAndCompare(harness, input: input, output: layer.output, y: y, outputGradient: r, dx: dx)
    }

    @Test func batchNormalizationTraining() throws {
        let shape = [2, 6, 6, 4]
        let channels = shape[3]
        let x = randomValues(shape.reduce(1, *), seed: 41).map { $0 * 2 + 0.5 }
        let gamma = randomValues(channels, seed: 42).map { $0 + 1.5 }
        let beta = randomValues(channels, seed: 43)
        let forward = ReferenceLayers.batchNorm(x, channels: channels, gamma: gamma, beta: beta)
        let r = randomValues(x.count, seed: 44)
        let analytic = ReferenceLayers.batchNormBackward(x, channels: channels, gamma: gamma, dy: r)
        func objective(_ x: [Double], _ g: [Double], _ b: [Double]) -> Double {
            projection(ReferenceLayers.batchNorm(x, channels: channels, gamma: g, beta: b).y, r)
        }
        #expect(relativeError(analytic.dx, finiteDifferences(of: { objective($0, gamma, beta) }, at: x)) < Self.referenceTolerance)
        #expect(relativeError(analytic.dGamma, finiteDifferences(of: { objective(x, $0, beta) }, at: gamma)) < Self.referenceTolerance)
        #expect(relativeError(analytic.dBeta, finiteDifferences(of: { objective(x, gamma, $0) }, at: beta)) < Self.referenceTolerance)

        let harness = try LayerHarness()
        let input = try harness.input(x, shape, tag: dnnl_nChw8c)
        let gammaParameter = try harness.parameter("test.bn.gamma", [channels], gamma)
        let betaParameter = try harness.parameter("test.bn.beta", [channels], beta)
        let movingMean = try harness.parameter("test.bn.moving_mean", [channels], [Double](repeating: 0, count: channels), trainable: false)
        let movingVariance = try harness.parameter("test.bn.moving_variance", [channels], [Double](repeating: 1, count: channels), trainable: false)
        let layer = try BatchNormalizationLayer(graph: harness.graph, input: input, gamma: gammaParameter, beta: betaParameter,
                                                movingMean: movingMean, movingVariance: movingVariance)
        try harness.graph.buildBackward()
        try harness.graph.runForward()
        #expect(relativeError(try harness.read(layer.output.value), forward.y) < Self.oneDNNTolerance)
        // Keras's update with the biased batch variance: moving = moving·0.99 + batch·0.01.
        #expect(relativeError(try movingMean.values.map(Double.init), forward.mean.map { $0 * 0.01 }) < Self.oneDNNTolerance)
        #expect(relativeError(try movingVariance.values.map(Double.init), forward.variance.map { 0.99 + $0 * 0.01 }) < Self.oneDNNTolerance)
        try harness.setGradient(r, of: layer.output)
        try harness.graph.runBackward()
        #expect(relativeError(try harness.gradient(of: input), analytic.dx) < Self.oneDNNTolerance)
        #expect(relativeError(try gammaParameter.gradientValues().map(Double.init), analytic.dGamma) < Self.oneDNNTolerance)
        #expect(relativeError(try betaParameter.gradientValues().map(Double.init), analytic.dBeta) < Self.oneDNNTolerance)
    }

    @Test func dropoutAppliesOneMaskForwardAndBackward() throws {
        let shape = [2, 6, 6, 8]
        let rate = 0.25
        let x = randomValues(shape.reduce(1, *), seed: 51).map { $0 + 3 }  // never zero
        let harness = try LayerHarness()
        let input = try harness.input(x, shape, tag: dnnl_nChw8c)
        let layer = try DropoutLayer(graph: harness.graph, input: input, rate: rate)
        try harness.graph.buildBackward()
        try harness.graph.runForward()
        let y = try harness.read(layer.output.value)
        let mask = zip(y, x).map { $0 / $1 }
        let kept = 1 / (1 - rate)
        #expect(mask.allSatisfy { abs($0) < 1e-6 || abs($0 - kept) < 1e-5 })
        let keptFraction = Double(mask.filter { $0 > 0.5 }.count) / Double(mask.count)
        #expect(abs(keptFraction - (1 - rate)) < 0.08)
        // Backward of y = x·mask for that fixed mask, against its finite differences.
        let r = randomValues(y.count, seed: 52)
        let dx = finiteDifferences(of: { x in projection(zip(x, mask).map { $0 * $1 }, r) }, at: x)
        try harness.setGradient(r, of: layer.output)
        try harness.graph.runBackward()
        #expect(relativeError(try harness.gradient(of: input), dx) < Self.oneDNNTolerance)
    }

    @Test(arguments: [(3, 5, dnnl_nhwc), (8, 8, dnnl_nChw8c)])
    func concatenation(firstChannels: Int, secondChannels: Int, tag: dnnl_format_tag_t) throws {
        let firstShape = [2, 4, 4, firstChannels]
        let secondShape = [2, 4, 4, secondChannels]
        let a = randomValues(firstShape.reduce(1, *), seed: 61)
        let b = randomValues(secondShape.reduce(1, *), seed: 62)
        let y = ReferenceLayers.concat(a, channelsA: firstChannels, b, channelsB: secondChannels)
        let r = randomValues(y.count, seed: 63)
        let analytic = ReferenceLayers.concatBackward(r, channelsA: firstChannels, channelsB: secondChannels)
        func objective(_ a: [Double], _ b: [Double]) -> Double {
            projection(ReferenceLayers.concat(a, channelsA: firstChannels, b, channelsB: secondChannels), r)
        }
        #expect(relativeError(analytic.da, finiteDifferences(of: { objective($0, b) }, at: a)) < Self.referenceTolerance)
        #expect(relativeError(analytic.db, finiteDifferences(of: { objective(a, $0) }, at: b)) < Self.referenceTolerance)

        let harness = try LayerHarness()
        let first = try harness.input(a, firstShape, tag: tag)
        let second = try harness.input(b, secondShape, tag: tag)
        let layer = try ConcatenationLayer(graph: harness.graph, firstChannels: firstChannels, second: second) { _ in first }
        #expect(layer.first !== layer.firstView)
        let forward = try harness.forwardAndBackward(layer.output, outputGradient: r)
        #expect(relativeError(forward, y) < Self.oneDNNTolerance)
        #expect(relativeError(try harness.gradient(of: first), analytic.da) < Self.oneDNNTolerance)
        #expect(relativeError(try harness.gradient(of: second), analytic.db) < Self.oneDNNTolerance)
    }

    /// The transposed convolution writing its output straight into the concatenation's buffer:
    /// a blocked buffer (8 + 8 channels), a channel-last one (3 + 5), and an upsampled part whose
    /// channels fill blocks while the skip's do not (8 + 4, channel-last).
    @Test(arguments: [(8, 8, dnnl_nChw8c), (3, 5, dnnl_nhwc), (8, 4, dnnl_nChw8c)])
    func transposedConvolutionIntoConcatenation(upChannels: Int, skipChannels: Int, skipTag: dnnl_format_tag_t) throws {
        let inputShape = [2, 2, 3, 16]
        let skipShape = [2, 4, 6, skipChannels]
        let kernelShape = [2, 2, upChannels, inputShape[3]]
        let x = randomValues(inputShape.reduce(1, *), seed: 81)
        let skip = randomValues(skipShape.reduce(1, *), seed: 82)
        let kernel = randomValues(kernelShape.reduce(1, *), seed: 83)
        let bias = randomValues(upChannels, seed: 84)
        let up = ReferenceLayers.transposedConvolution(x, inputShape, kernel: kernel, outChannels: upChannels, bias: bias)
        let y = ReferenceLayers.concat(up, channelsA: upChannels, skip, channelsB: skipChannels)
        let r = randomValues(y.count, seed: 85)
        let split = ReferenceLayers.concatBackward(r, channelsA: upChannels, channelsB: skipChannels)
        let analytic = ReferenceLayers.transposedConvolutionBackward(x, inputShape, kernel: kernel, outChannels: upChannels, dy: split.da)

        let harness = try LayerHarness()
        let input = try harness.input(x, inputShape, tag: dnnl_nChw8c)
        let second = try harness.input(skip, skipShape, tag: skipTag)
        let kernelParameter = try harness.parameter("test.up.kernel", kernelShape, kernel)
        let biasParameter = try harness.parameter("test.up.bias", [upChannels], bias)
        let layer = try ConcatenationLayer(graph: harness.graph, firstChannels: upChannels, second: second) { destination in
            try TransposedConvolutionLayer(graph: harness.graph, input: input, kernel: kernelParameter, bias: biasParameter,
                                           destination: destination).output
        }
        #expect(layer.first === layer.firstView)
        let forward = try harness.forwardAndBackward(layer.output, outputGradient: r)
        #expect(relativeError(forward, y) < Self.oneDNNTolerance)
        #expect(relativeError(try harness.gradient(of: second), split.db) < Self.oneDNNTolerance)
        #expect(relativeError(try harness.gradient(of: input), analytic.dx) < Self.oneDNNTolerance)
        #expect(relativeError(try kernelParameter.gradientValues().map(Double.init), analytic.dKernel) < Self.oneDNNTolerance)
        #expect(relativeError(try biasParameter.gradientValues().map(Double.init), analytic.dBias) < Self.oneDNNTolerance)
    }

    @Test func weightedCrossEntropyWithIgnoreMask() throws {
        let shape = [2, 4, 4, 3]
        let weights = [0.2, 0.5, 0.3]
        let z = randomValues(shape.reduce(1, *), seed: 71).map { $0 * 4 }
        let y = randomValues(z.count, seed: 72).map { $0 > 0 ? 1.0 : 0.0 }
        let ignore = randomValues(z.count / 3, seed: 73).map { $0 > 0.4 ? 1.0 : 0.0 }
        let reference = ReferenceLayers.loss(logits: z, targets: y, classes: 3, weights: weights, ignore: ignore)
        let numeric = finiteDifferences(of: { ReferenceLayers.loss(logits: $0, targets: y, classes: 3, weights: weights, ignore: ignore).loss }, at: z)
        #expect(relativeError(reference.dz, numeric) < Self.referenceTolerance)
        // Ignored pixels get exactly zero gradient.
        for p in ignore.indices where ignore[p] != 0 { #expect(reference.dz[(3 * p)..<(3 * p + 3)].allSatisfy { $0 == 0 }) }

        let harness = try LayerHarness()
        let logits = try harness.input(z, shape, tag: dnnl_nChw8c)
        let loss = try BinaryCrossEntropyLoss(graph: harness.graph, logits: logits, classWeights: weights)
        loss.targets = y.map(Float.init)
        loss.ignore = ignore.map(Float.init)
        try harness.graph.buildBackward()
        try harness.graph.runForward()
        #expect(abs(Double(loss.loss) - reference.loss) / reference.loss < Self.oneDNNTolerance)
        try harness.graph.runBackward()
        #expect(relativeError(try harness.gradient(of: logits), reference.dz) < Self.oneDNNTolerance)
    }
}
