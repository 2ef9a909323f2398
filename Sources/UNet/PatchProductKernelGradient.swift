import CDNNL

/// The kernel and bias gradients of a stride-1 "same" convolution on small images as one matrix
/// product: every output pixel's input patch is a row of a matrix (im2col), and the kernel
/// gradient is that matrix transposed times the output gradient, [k·k·in, pixels]×[pixels, out],
/// which comes out in (k, k, in, out) order. On the default model's 5×5 level (1024 channels,
/// 200 pixels in a batch of 8) oneDNN 2.6's direct backward-weights convolution runs at 42–49
/// GFLOP/s on AVX2, and its sgemm of the same product at 95–115.
final class PatchProductKernelGradient {
    private let batch: Int, height: Int, width: Int
    private let inChannels: Int, outChannels: Int, kernelSize: Int
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
        (batch, height, width) = (input.batch, input.height, input.width)
        (inChannels, self.outChannels, self.kernelSize) = (input.channels, outChannels, kernelSize)
        var copies: [PrimitiveCall] = []
        func channelLast(_ memory: DNNLMemory, channels: Int) throws -> DNNLMemory {
            let plain = try MemoryDescriptor.nhwc(input.batch, channels, input.height, input.width)
            // A view's data pointer is its parent's start, so a view is always copied.
            if memory.descriptor.sameLayout(as: plain) && memory.descriptor.raw.offset0 == 0 { return memory }
            let copy = try DNNLMemory(plain, engine: engine)
            copies.append(try PrimitiveCall.reorder(from: memory, to: copy, engine: engine))
            return copy
        }
        self.input = try channelLast(input.value, channels: input.channels)
        self.outputGradient = try channelLast(outputGradient, channels: outChannels)
        self.copies = copies
        patches = Array(repeating: 0, count: input.batch * input.height * input.width * kernelSize * kernelSize * input.channels)
    }

    /// Writes the kernel gradient into `kernelGradient`, laid out (k, k, in, out) (oneDNN's hwio
    /// for dims (out, in, k, k)), and the bias gradient into `biasGradient`.
    func run(kernelGradient: DNNLMemory, biasGradient: DNNLMemory) throws {
        for copy in copies { try copy.execute(on: engine) }
        try engine.wait()
        let pixels = batch * height * width
        let row = kernelSize * kernelSize * inChannels
        let padding = (kernelSize - 1) / 2
        let source = UnsafePointer(input.data.assumingMemoryBound(to: Float.self))
        let gradient = UnsafePointer(outputGradient.data.assumingMemoryBound(to: Float.self))
        patches.withUnsafeMutableBufferPointer { buffer in
            guard let matrix = buffer.baseAddress else { return }
            for pixel in 0..<pixels {
                let x = pixel % width, y = (pixel / width) % height, image = pixel / (width * height)
                for tapY in 0..<kernelSize {
                    for tapX in 0..<kernelSize {
                        let target = matrix + pixel * row + (tapY * kernelSize + tapX) * inChannels
                        let sourceY = y + tapY - padding, sourceX = x + tapX - padding
                        if sourceY >= 0 && sourceY < height && sourceX >= 0 && sourceX < width {
                            target.update(from: source + ((image * height + sourceY) * width + sourceX) * inChannels, count: inChannels)
                        } else {
                            target.update(repeating: 0, count: inChannels)
                        }
                    }
                }
            }
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
