import Testing
@testable import UNet

/// Runs a training graph that holds one convolution layer forward and backward, and checks its
/// output, its input gradient (added to `earlier`, which another consumer of the input wrote
/// first when `accumulates`) and its kernel and bias gradients against the Float64 reference.
func expectConvolutionMatchesReference(_ harness: LayerHarness, input: Activation, output: Activation, kernel: ParameterTensor,
                                       bias: ParameterTensor, y: [Double], outputGradient: [Double], earlier: [Double],
                                       accumulates: Bool, expected: (dx: [Double], dKernel: [Double], dBias: [Double]),
                                       tolerance: Double) throws {
    if accumulates { input.gradientWritten = true }
    try harness.graph.buildBackward()
    try harness.graph.runForward()
    #expect(relativeError(try harness.read(output.value), y) < tolerance)
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
