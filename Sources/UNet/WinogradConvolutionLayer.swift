import CDNNL

/// A 3×3 "same" convolution with bias and ReLU by Winograd's F(4×4, 3×3): the input is cut into
/// 4×4-output tiles, each tile's 6×6 patch transformed (`WinogradTransform`), the 36 transformed
/// positions multiplied by the transformed kernels as 36 matrix products (a oneDNN batched
/// matmul), and the results transformed back with the bias and ReLU applied (`WinogradPass`).
///
/// oneDNN 2.6 has Winograd only for AVX-512; this layer brings it to every CPU. In training, the
/// input gradient is a Winograd convolution too (of the output gradient with the rotated kernel),
/// while the kernel and bias gradients come from oneDNN's direct backward-weights convolution.
final class WinogradConvolutionLayer: GraphLayer {
    let input: Activation
    let output: Activation
    private let kernel: ParameterTensor
    private let bias: ParameterTensor
    private let relu: Bool
    private let forward: WinogradPass
    /// oneDNN's direct kernel and bias gradients; nil in inference graphs.
    private let backwardWeights: PrimitiveDescriptor?
    private let engine: DNNLEngine

    /// Whether this layer can compute a convolution of `input` with `kernelSize`, and is expected to
    /// beat oneDNN's direct convolution: 8-channel-blocked f32 activations (or bf16 requested on a
    /// CPU that would compute it in f32 anyway), and a Winograd-friendly size.
    static func applies(to input: Activation, kernelSize: Int, outChannels: Int, graph: NetworkGraph) -> Bool {
        guard kernelSize == 3, graph.precision == .f32 || !graph.engine.computesBF16Natively,
              input.channels >= 16, input.channels % 8 == 0, outChannels % 8 == 0,
              worthwhile(height: input.height, width: input.width),
              let blocked = try? MemoryDescriptor(dims: input.dims, tag: dnnl_nChw8c),
              input.descriptor.sameLayout(as: blocked) else { return false }
        return true
    }

    /// At least two 4×4 tiles per side, and at most 40 % of the computed outputs outside the
    /// image (so 5×5, which computes 8×8, stays direct).
    static func worthwhile(height: Int, width: Int) -> Bool {
        guard height >= 8, width >= 8 else { return false }
        let side = WinogradTransform.outputSide
        let computed = ((height + side - 1) / side) * ((width + side - 1) / side) * side * side
        return Double(height * width) >= 0.6 * Double(computed)
    }

    init(graph: NetworkGraph, input: Activation, kernel: ParameterTensor, bias: ParameterTensor, relu: Bool) throws {
        engine = graph.engine
        self.input = input
        self.kernel = kernel
        self.bias = bias
        self.relu = relu
        let inChannels = input.channels, outChannels = kernel.kerasShape[3]
        output = try graph.activation(MemoryDescriptor(dims: [input.batch, outChannels, input.height, input.width], tag: dnnl_nChw8c),
                                      needsGradient: graph.training)
        let plain = try MemoryDescriptor(dims: [outChannels, inChannels, 3, 3], tag: dnnl_hwio)
        if graph.training {
            // The master lives in the layout the backward-weights primitive writes, so that its
            // gradient (and Adam's update) needs no reorder; the transform reads it through a
            // staging reorder instead, which costs less.
            let backward = try WinogradConvolutionLayer.backwardWeights(graph: graph, input: input, output: output, name: kernel.name)
            backwardWeights = backward
            _ = try kernel.bind(backward.memory(dnnl_query_diff_weights_md))
            _ = try bias.bind(backward.memory(dnnl_query_diff_weights_md, 1))
        } else {
            backwardWeights = nil
            _ = try kernel.bind(plain)
            _ = try bias.bind(MemoryDescriptor(dims: [outChannels], tag: dnnl_x))
        }
        forward = try WinogradPass(engine: engine, batch: input.batch, height: input.height, width: input.width,
                                   inChannels: inChannels, outChannels: outChannels, relu: relu,
                                   kernel: kernel, kernelLayout: plain, rotated: false,
                                   workspace: graph.winogradWorkspace, keepsKernel: !graph.training)
        graph.append(.host { [unowned self] in
            guard let biasValues = self.bias.master else { throw UNetError("parameter \(self.bias.name) has no values") }
            try self.forward.run(source: self.input.value, destination: self.output.value, bias: biasValues)
        })
        graph.add(self)
    }

    /// oneDNN's direct convolution backward to the weights over this layer's tensors, with the
    /// forward-training descriptor it needs as a hint.
    private static func backwardWeights(graph: NetworkGraph, input: Activation, output: Activation, name: String) throws -> PrimitiveDescriptor {
        let geometry = ConvolutionGeometry(kernel: 3, stride: 1, padding: 1)
        let weights = try MemoryDescriptor.any([output.channels, input.channels, 3, 3])
        let bias = try MemoryDescriptor(dims: [output.channels], tag: dnnl_x)
        var src = input.descriptor.raw, wei = weights.raw, bia = bias.raw, dst = output.descriptor.raw
        var forwardOperation = dnnl_convolution_desc_t()
        try check(dnnl_convolution_forward_desc_init(&forwardOperation, dnnl_forward_training, dnnl_convolution_direct, &src, &wei, &bia, &dst,
                                                     geometry.strides, geometry.paddings, geometry.paddings),
                  "convolution_forward_desc_init \(name)")
        let hint = try PrimitiveDescriptor(operation: forwardOperation, engine: graph.engine, what: "convolution forward hint \(name)")
        var operation = dnnl_convolution_desc_t()
        try check(dnnl_convolution_backward_weights_desc_init(&operation, dnnl_convolution_direct, &src, &wei, &bia, &dst,
                                                              geometry.strides, geometry.paddings, geometry.paddings),
                  "convolution_backward_weights_desc_init \(name)")
        return try PrimitiveDescriptor(operation: operation, attributes: PrimitiveAttributes(precision: graph.precision), hint: hint,
                                       engine: graph.engine, what: "convolution backward weights \(name)")
    }

    func backwardSteps(in graph: NetworkGraph) throws -> [GraphStep] {
        guard let backwardWeights else { throw UNetError("the Winograd convolution \(kernel.name) was built for inference") }
        let outputGradient = try graph.gradient(of: output)
        var steps: [GraphStep] = []
        if relu { steps.append(try graph.reluBackward(output: output, gradient: outputGradient, name: kernel.name)) }
        steps += try graph.weightGradientSteps(backwardWeights, kernel: kernel, bias: bias, input: input, outputGradient: outputGradient)
        if input.needsGradient {
            // The input gradient of a 3×3 same convolution is the 3×3 same convolution of the
            // output gradient with the kernel rotated 180° and its channels swapped: the staging
            // copy puts the forward input channels fastest, and the pass reads the taps reversed.
            let (inChannels, outChannels) = (input.channels, output.channels)
            let swapped = try MemoryDescriptor(dims: [outChannels, inChannels, 3, 3],
                                               strides: [inChannels, 1, 3 * outChannels * inChannels, outChannels * inChannels])
            let backwardData = try WinogradPass(engine: engine, batch: input.batch, height: input.height, width: input.width,
                                                inChannels: outChannels, outChannels: inChannels, relu: false,
                                                kernel: kernel, kernelLayout: swapped, rotated: true,
                                                workspace: graph.winogradWorkspace, keepsKernel: false)
            let sink = try graph.gradientSink(for: input)
            steps.append(.host { try backwardData.run(source: outputGradient, destination: sink.memory, bias: nil) })
            steps += sink.then
        }
        return steps
    }
}

/// The shape of one Winograd convolution: what the transforms need, as a value that threads share.
struct WinogradGeometry: Sendable {
    let height: Int, width: Int
    let inChannels: Int, outChannels: Int
    let tilesDown: Int, tilesAcross: Int
    let chunkTiles: Int
    let relu: Bool

    /// Bᵀ d B for every tile in `tiles`, into the chunk's transformed input. Tiles are taken a
    /// row at a time: Bᵀ runs down each input column of the row once (neighbouring tiles share
    /// two columns), then B across each tile.
    func transformInput(_ buffers: WinogradBuffers, tiles: Range<Int>, chunkStart: Int) {
        let source = UnsafePointer(buffers.source.assumingMemoryBound(to: Float.self))
        let transformed = buffers.transformedInput.assumingMemoryBound(to: Float.self)
        let blocks = inChannels / 8
        let positionStride = chunkTiles &* inChannels
        let columnsPerRow = tilesAcross &* 4 &+ 2
        let zero = SIMD8<Float>(repeating: 0)
        withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 6 * columnsPerRow) { scratch in
            guard let columns = scratch.baseAddress else { return }
            var tile = tiles.lowerBound
            while tile < tiles.upperBound {
                let image = tile / (tilesDown &* tilesAcross)
                let within = tile % (tilesDown &* tilesAcross)
                let tileRow = within / tilesAcross, firstTile = within % tilesAcross
                let lastTile = min(tilesAcross, firstTile &+ tiles.upperBound &- tile)
                let y0 = tileRow &* 4 &- 1, x0 = firstTile &* 4 &- 1
                let spanColumns = (lastTile &- firstTile) &* 4 &+ 2
                // Patch rows firstRow..<endRow lie inside the image; the others are zero padding.
                let firstRow = max(0, -y0), endRow = min(6, height &- y0)
                for block in 0..<blocks {
                    let planeOffset: Int = ((image &* blocks &+ block) &* height &* width) &* 8
                    let plane = source + planeOffset
                    for c in 0..<spanColumns {
                        let x = x0 &+ c
                        var d = (zero, zero, zero, zero, zero, zero)
                        if x >= 0 && x < width {
                            let topOffset: Int = (y0 &* width &+ x) &* 8
                            let top = UnsafeRawPointer(plane + topOffset)
                            let rowBytes = width &* 32
                            if firstRow <= 0 && 0 < endRow { d.0 = top.loadUnaligned(as: SIMD8<Float>.self) }
                            if firstRow <= 1 && 1 < endRow { d.1 = top.loadUnaligned(fromByteOffset: rowBytes, as: SIMD8<Float>.self) }
                            if firstRow <= 2 && 2 < endRow { d.2 = top.loadUnaligned(fromByteOffset: 2 &* rowBytes, as: SIMD8<Float>.self) }
                            if firstRow <= 3 && 3 < endRow { d.3 = top.loadUnaligned(fromByteOffset: 3 &* rowBytes, as: SIMD8<Float>.self) }
                            if firstRow <= 4 && 4 < endRow { d.4 = top.loadUnaligned(fromByteOffset: 4 &* rowBytes, as: SIMD8<Float>.self) }
                            if firstRow <= 5 && 5 < endRow { d.5 = top.loadUnaligned(fromByteOffset: 5 &* rowBytes, as: SIMD8<Float>.self) }
                        }
                        let r = WinogradTransform.inputRow(d.0, d.1, d.2, d.3, d.4, d.5)
                        columns[c] = r.0
                        columns[spanColumns &+ c] = r.1
                        columns[2 &* spanColumns &+ c] = r.2
                        columns[3 &* spanColumns &+ c] = r.3
                        columns[4 &* spanColumns &+ c] = r.4
                        columns[5 &* spanColumns &+ c] = r.5
                    }
                    for across in 0..<(lastTile &- firstTile) {
                        let local = tile &+ across &- chunkStart
                        let offset: Int = local &* inChannels &+ block &* 8
                        let column = UnsafeMutableRawPointer(transformed + offset)
                        for k in 0..<6 {
                            let columnOffset: Int = k &* spanColumns &+ across &* 4
                            let t = columns + columnOffset
                            let r = WinogradTransform.inputRow(t[0], t[1], t[2], t[3], t[4], t[5])
                            let positionBytes: Int = k &* 6 &* positionStride &* 4
                            let base = column + positionBytes
                            base.storeBytes(of: r.0, toByteOffset: 0, as: SIMD8<Float>.self)
                            base.storeBytes(of: r.1, toByteOffset: positionStride &* 4, as: SIMD8<Float>.self)
                            base.storeBytes(of: r.2, toByteOffset: 2 &* positionStride &* 4, as: SIMD8<Float>.self)
                            base.storeBytes(of: r.3, toByteOffset: 3 &* positionStride &* 4, as: SIMD8<Float>.self)
                            base.storeBytes(of: r.4, toByteOffset: 4 &* positionStride &* 4, as: SIMD8<Float>.self)
                            base.storeBytes(of: r.5, toByteOffset: 5 &* positionStride &* 4, as: SIMD8<Float>.self)
                        }
                    }
                }
                tile = tile &+ (lastTile &- firstTile)
            }
        }
    }

    func transformOutput(_ buffers: WinogradBuffers, tiles: Range<Int>, chunkStart: Int) {
        let products = UnsafePointer(buffers.products.assumingMemoryBound(to: Float.self))
        let bias = buffers.bias.map { UnsafePointer($0.assumingMemoryBound(to: Float.self)) }
        let destination = buffers.destination.assumingMemoryBound(to: Float.self)
        let blocks = outChannels / 8
        let positionStride = chunkTiles * outChannels
        let zero = SIMD8<Float>(repeating: 0)
        withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 24) { scratch in
            guard let t = scratch.baseAddress else { return }
            for tile in tiles {
                let local = tile - chunkStart
                let n = tile / (tilesDown * tilesAcross)
                let within = tile % (tilesDown * tilesAcross)
                let y0 = (within / tilesAcross) * 4, x0 = (within % tilesAcross) * 4
                let rows = min(4, height - y0), columns = min(4, width - x0)
                for block in 0..<blocks {
                    let column = UnsafeRawPointer(products + local * outChannels + block * 8)
                    func m(_ position: Int) -> SIMD8<Float> {
                        column.loadUnaligned(fromByteOffset: position * positionStride * 4, as: SIMD8<Float>.self)
                    }
                    for j in 0..<6 {
                        let r = WinogradTransform.outputRow(m(j), m(6 + j), m(12 + j), m(18 + j), m(24 + j), m(30 + j))
                        t[j] = r.0; t[6 + j] = r.1; t[12 + j] = r.2; t[18 + j] = r.3
                    }
                    let shift = bias.map { UnsafeRawPointer($0 + block * 8).loadUnaligned(as: SIMD8<Float>.self) } ?? zero
                    let plane = destination + ((n * blocks + block) * height * width) * 8
                    for a in 0..<rows {
                        let r = WinogradTransform.outputRow(t[a * 6], t[a * 6 + 1], t[a * 6 + 2], t[a * 6 + 3], t[a * 6 + 4], t[a * 6 + 5])
                        var values = (r.0 + shift, r.1 + shift, r.2 + shift, r.3 + shift)
                        if relu {
                            values = (values.0.replacing(with: zero, where: values.0 .< zero),
                                      values.1.replacing(with: zero, where: values.1 .< zero),
                                      values.2.replacing(with: zero, where: values.2 .< zero),
                                      values.3.replacing(with: zero, where: values.3 .< zero))
                        }
                        let row = UnsafeMutableRawPointer(plane + ((y0 + a) * width + x0) * 8)
                        row.storeBytes(of: values.0, toByteOffset: 0, as: SIMD8<Float>.self)
                        if columns > 1 { row.storeBytes(of: values.1, toByteOffset: 32, as: SIMD8<Float>.self) }
                        if columns > 2 { row.storeBytes(of: values.2, toByteOffset: 64, as: SIMD8<Float>.self) }
                        if columns > 3 { row.storeBytes(of: values.3, toByteOffset: 96, as: SIMD8<Float>.self) }
                    }
                }
            }
        }
    }
}

/// The buffers of one Winograd convolution, for the transform threads.
/// `@unchecked Sendable`: the layer keeps every buffer alive while `run` waits for the threads,
/// and the threads write disjoint tiles (of the transformed input, or of the output).
struct WinogradBuffers: @unchecked Sendable {
    let source: UnsafeMutableRawPointer
    let destination: UnsafeMutableRawPointer
    let transformedInput: UnsafeMutableRawPointer
    let products: UnsafeMutableRawPointer
    /// Nil for a convolution without bias (the backward-data one).
    let bias: UnsafeMutableRawPointer?
}

extension Range where Bound == Int {
    /// The `part`-th of `parts` nearly equal consecutive pieces.
    func split(_ part: Int, of parts: Int) -> Range<Int> {
        let size = count
        return (lowerBound + size * part / parts)..<(lowerBound + size * (part + 1) / parts)
    }
}

