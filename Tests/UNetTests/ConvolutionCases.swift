import Testing
@testable import UNet

/// A 3×3 convolution's random input, kernel and bias, with its Float64 reference output.
struct ConvolutionCase {
    let shape: [Int], kernelShape: [Int]
    let x: [Double], kernel: [Double], bias: [Double]
    let y: [Double]

    /// Values drawn with seeds `seed` to `seed + 2`; `shape` is NHWC.
    init(shape: [Int], outChannels: Int, relu: Bool, seed: UInt64) {
        self.shape = shape
        kernelShape = [3, 3, shape[3], outChannels]
        x = randomValues(shape.reduce(1, *), seed: seed)
        kernel = randomValues(kernelShape.reduce(1, *), seed: seed + 1).map { $0 * 0.3 }
        bias = randomValues(outChannels, seed: seed + 2).map { $0 * 0.1 }
        y = ReferenceLayers.convolution(x, shape, kernel: kernel, kernelShape: kernelShape, bias: bias, relu: relu)
    }
}

/// A `ConvolutionCase` with a random output gradient and the reference gradients, for checking
/// one layer in a training graph.
struct ConvolutionGradientCase {
    let forward: ConvolutionCase
    let outputGradient: [Double]
    /// The input gradient another consumer wrote first (zeros unless `accumulates`).
    let earlier: [Double]
    let accumulates: Bool
    let expected: (dx: [Double], dKernel: [Double], dBias: [Double])

    var kernelShape: [Int] { forward.kernelShape }
    var x: [Double] { forward.x }
    var kernel: [Double] { forward.kernel }
    var bias: [Double] { forward.bias }

    /// Values drawn with seeds `seed` to `seed + 4`; `shape` is NHWC.
    init(shape: [Int], outChannels: Int, relu: Bool, accumulates: Bool, seed: UInt64) {
        forward = ConvolutionCase(shape: shape, outChannels: outChannels, relu: relu, seed: seed)
        outputGradient = randomValues(forward.y.count, seed: seed + 3)
        self.accumulates = accumulates
        earlier = accumulates ? randomValues(forward.x.count, seed: seed + 4) : [Double](repeating: 0, count: forward.x.count)
        expected = ReferenceLayers.convolutionBackward(forward.x, shape, kernel: forward.kernel, kernelShape: forward.kernelShape,
                                                       y: forward.y, dy: outputGradient, relu: relu)
    }

    /// Runs `harness`'s training graph, which holds one convolution layer from `input` to
    /// `output` with these `kernel` and `bias` parameters, forward and backward, and checks its
    /// output, its input gradient (added to `earlier`) and its kernel and bias gradients.
    func expectLayerMatches(_ harness: LayerHarness, input: Activation, output: Activation, kernel: ParameterTensor,
                            bias: ParameterTensor, tolerance: Double) throws {
        // As if a later consumer of the input had already written its gradient.
        if accumulates { input.gradientWritten = true }
        try harness.graph.buildBackward()
        try harness.graph.runForward()
        #expect(relativeError(try harness.read(output.value), forward.y) < tolerance)
        try harness.setGradient(outputGradient, of: output)
        try harness.setGradient(earlier, of: input)
        try harness.graph.runBackward()
        let dx = zip(expected.dx, earlier).map { $0 + $1 }
        let inputError = relativeError(try harness.gradient(of: input), dx)
        let kernelError = relativeError(try kernel.gradientValues().map(Double.init), expected.dKernel)
        let biasError = relativeError(try bias.gradientValues().map(Double.init), expected.dBias)
        #expect(inputError < tolerance, "input gradient: relative error \(inputError)")
        #expect(kernelError < tolerance, "kernel gradient: relative error \(kernelError)")
        #expect(biasError < tolerance, "bias gradient: relative error \(biasError)")
    }
}
