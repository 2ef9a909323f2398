import CDNNL

/// The kernel and bias gradients of a stride-1 "same" convolution on small images as one matrix
/// product: every output pixel's input patch is a row of a matrix (im2col), and the kernel
/// gradient is that matrix transposed times the output gradient, [k·k·in, pixels]×[pixels, out],
/// which comes out in (k, k, in, out) order. On the default model's 5×5 level (1024 channels,
/// 200 pixels in a batch of 8) oneDNN 2.6's direct backward-weights convolution runs at 42–49
/// GFLOP/s on AVX2, and its sgemm of the same product at 95–115.
final class PatchProductKernelGradient {
    private let outChannels: Int
    private let matrix: PatchMatrix
    /// The input and the output gradient in channel-last order: a pixel's channels are contiguous.
    private let input: DNNLMemory, outputGradient: DNNLMemory
    private let copies: [PrimitiveCall]
    private let engine: DNNLEngine
    /// [pixels, k·k·in]: row p holds the input patch under output pixel p, zeros outside the image.
    private var patches: [Float]

    /// At most this many pixels per image: the one size measured (5×5) and below. Larger images
    /// give the direct convolution enough work per kernel element to run near its peak.
    static let largestImage = 25

    /// Whether this product should compute the kernel gradient of a convolution of `input`.
    static func applies(to input: Activation, precision: Precision, engine: DNNLEngine) -> Bool {
        input.height * input.width <= largestImage && (precision == .f32 || !engine.computesBF16Natively)
    }

    /// For a convolution of `input` with a `kernelSize`² kernel and `outChannels` outputs whose
    /// output gradient is `outputGradient` (in the output's layout).
    init(engine: DNNLEngine, input: Activation, outputGradient: DNNLMemory, outChannels: Int, kernelSize: Int) throws {
        self.engine = engine
        self.outChannels = outChannels
        let inputCopy = try PatchMatrix.channelLast(input.value, dims: input.dims, engine: engine)
        let gradientCopy = try PatchMatrix.channelLast(outputGradient, dims: [input.batch, outChannels, input.height, input.width],
                                                       engine: engine)
        self.input = inputCopy.memory
        self.outputGradient = gradientCopy.memory
        copies = [inputCopy.copy, gradientCopy.copy].compactMap { $0 }
        matrix = PatchMatrix(batch: input.batch, height: input.height, width: input.width, channels: input.channels, kernelSize: kernelSize)
        patches = Array(repeating: 0, count: matrix.rows * matrix.columns)
    }

    /// Writes the kernel gradient into `kernelGradient`, laid out (k, k, in, out) (oneDNN's hwio
    /// for dims (out, in, k, k)), and the bias gradient into `biasGradient`.
    func run(kernelGradient: DNNLMemory, biasGradient: DNNLMemory) throws {
        for copy in copies { try copy.execute(on: engine) }
        try engine.wait()
        let pixels = matrix.rows, row = matrix.columns
        let source = UnsafePointer(input.data.assumingMemoryBound(to: Float.self))
        let gradient = UnsafePointer(outputGradient.data.assumingMemoryBound(to: Float.self))
        let matrix = matrix
        patches.withUnsafeMutableBufferPointer { buffer in
            guard let rows = buffer.baseAddress else { return }
            matrix.fill(rows, from: source, pixels: 0..<pixels)
        }
        let status = patches.withUnsafeBufferPointer { buffer in
            dnnl_sgemm(CChar(UInt8(ascii: "T")), CChar(UInt8(ascii: "N")), Int64(row), Int64(outChannels), Int64(pixels), 1,
                       buffer.baseAddress, Int64(row), gradient, Int64(outChannels), 0,
                       kernelGradient.data.assumingMemoryBound(to: Float.self), Int64(outChannels))
        }
        try check(status, "sgemm of the patch-product kernel gradient")
        let bias = biasGradient.data.assumingMemoryBound(to: Float.self)
        bias.update(repeating: 0, count: outChannels)
        for pixel in 0..<pixels {
            let values = gradient + pixel * outChannels
            for channel in 0..<outChannels { bias[channel] += values[channel] }
        }
    }
}
