import CDNNL

/// The kernel and bias gradients of a 3×3 "same" convolution by Winograd's F(4×4, 3×3), the
/// adjoint of `WinogradPass`'s forward computation Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A: for each chunk of
/// tiles, the input is transformed as in the forward pass (V = Bᵀ d B) and the output gradient
/// by A (∂L/∂Y) Aᵀ; 36 matrix products [in, tiles]×[tiles, out] (`BlockedGradientProduct`, or
/// on AVX-512 CPUs one oneDNN batched matmul) write the first chunk's products into ∂L/∂U and
/// add every later chunk's; at the end the kernel gradient is Gᵀ (∂L/∂U) G. Per tile that is 36
/// products per channel pair where a direct backward-weights convolution does 144.
///
/// The bias gradient, the sum of the output gradient, falls out of the output-gradient transform.
final class WinogradKernelGradient {
    let geometry: WinogradGeometry
    private let tileCount: Int
    private let engine: DNNLEngine
    /// ∂L/∂U as [36, in, out], the transformed input as [36, chunk, in] and the transformed
    /// gradient as [36, chunk, out]: views of the graph's shared workspace.
    private let descriptors: [MemoryDescriptor]
    private let workspace: WinogradWorkspace
    /// The products by our own kernel, the transformed tensors stored by blocks of 8 channels;
    /// nil for oneDNN's matmul.
    private let blockedProduct: BlockedGradientProduct?
    private var memories: WinogradGradientMemories?
    /// Per-thread sums of the output gradient, one row of `outChannels` per thread.
    private var biasSums: [SIMD8<Float>]

    /// `channelBlocks`: channels per block of the input's and the output gradient's layout (8 or
    /// 16). `maximumChunkTiles` caps the tiles per chunk below the cache-sized default (tests use
    /// it to run several chunks on small tensors). `panelProducts`: multiply by
    /// `BlockedGradientProduct` rather than oneDNN's matmul.
    init(engine: DNNLEngine, batch: Int, height: Int, width: Int, inChannels: Int, outChannels: Int,
         channelBlocks: (input: Int, output: Int), workspace: WinogradWorkspace, panelProducts: Bool,
         maximumChunkTiles: Int = .max) throws {
        let side = WinogradTransform.outputSide, positions = WinogradTransform.positions
        self.engine = engine
        let tilesDown = (height + side - 1) / side
        let tilesAcross = (width + side - 1) / side
        tileCount = batch * tilesDown * tilesAcross
        let chunkTiles = min(tileCount, maximumChunkTiles, WinogradPass.chunkTiles(inChannels: inChannels, outChannels: outChannels))
        geometry = WinogradGeometry(height: height, width: width, inChannels: inChannels, outChannels: outChannels,
                                    tilesDown: tilesDown, tilesAcross: tilesAcross, chunkTiles: chunkTiles, relu: false,
                                    inputBlock: channelBlocks.input, outputBlock: channelBlocks.output,
                                    channelBlocked: panelProducts)
        blockedProduct = panelProducts ? BlockedGradientProduct(inChannels: inChannels, outChannels: outChannels, chunkTiles: chunkTiles) : nil
        descriptors = [
            try MemoryDescriptor(dims: [positions, inChannels, outChannels], tag: dnnl_abc),
            try MemoryDescriptor(dims: [positions, chunkTiles, inChannels], tag: dnnl_abc),
            try MemoryDescriptor(dims: [positions, chunkTiles, outChannels], tag: dnnl_abc),
        ]
        self.workspace = workspace
        workspace.reserve(descriptors)
        biasSums = Array(repeating: SIMD8(repeating: 0), count: max(1, OpenMPLoop.threads) * outChannels / 8)
    }

    /// Writes the kernel gradient (in the (3, 3, in, out) layout, out fastest) and the bias
    /// gradient of the convolution whose input was `input` and whose output gradient (after the
    /// ReLU's) is `outputGradient`, in the channel blocks given at initialisation.
    func run(input: DNNLMemory, outputGradient: DNNLMemory, kernelGradient: DNNLMemory, biasGradient: DNNLMemory) throws {
        let shape = geometry
        let memories: WinogradGradientMemories
        if let existing = self.memories {
            memories = existing
        } else {
            memories = try WinogradGradientMemories(workspace.views(descriptors).compactMap { $0 }, geometry: shape, tileCount: tileCount,
                                                    usesMatmul: blockedProduct == nil, engine: engine)
            self.memories = memories
        }
        let transformedKernel = memories.kernelGradient.data
        let blockedProduct = blockedProduct
        let threads = max(1, OpenMPLoop.threads)
        let blocks = shape.outChannels / 8
        try biasSums.withUnsafeMutableBufferPointer { sums in
            guard let sumsBase = sums.baseAddress else { return }
            sumsBase.update(repeating: SIMD8(repeating: 0), count: sums.count)
            let buffers = WinogradGradientBuffers(input: input.data, outputGradient: outputGradient.data,
                                                  transformedInput: memories.transformedInput.data,
                                                  transformedGradient: memories.transformedGradient.data,
                                                  kernelGradient: transformedKernel, biasSums: sumsBase)
            try shape.forEachChunk(tileCount: tileCount) { range, parts in
                OpenMPLoop.forEach(parts) { part in
                    let tiles = range.split(part, of: parts)
                    shape.transformInput(from: buffers.input, into: buffers.transformedInput, tiles: tiles, chunkStart: range.lowerBound)
                    shape.transformOutputGradient(from: buffers.outputGradient, into: buffers.transformedGradient,
                                                  biasSums: buffers.biasSums + part * blocks, tiles: tiles, chunkStart: range.lowerBound)
                }
                if let blockedProduct {
                    let accumulate = range.lowerBound > 0
                    OpenMPLoop.forEach(threads) { part in
                        blockedProduct.multiply(depth: range.count, v: buffers.transformedInput, w: buffers.transformedGradient,
                                                gradient: buffers.kernelGradient, accumulate: accumulate, part: part, of: threads)
                    }
                } else if let matmul = memories.matmul {
                    let call = range.lowerBound == 0 ? matmul.firstChunk : range.count == shape.chunkTiles ? matmul.laterChunk : matmul.lastChunk
                    try call?.execute(on: engine)
                    try engine.wait()
                }
            }
            let bias = biasGradient.data.assumingMemoryBound(to: Float.self)
            for block in 0..<blocks {
                var total = SIMD8<Float>(repeating: 0)
                for part in 0..<threads { total += sumsBase[part * blocks + block] }
                UnsafeMutableRawPointer(bias + block * 8).storeBytes(of: total, as: SIMD8<Float>.self)
            }
        }
        inverseTransform(UnsafeRawPointer(transformedKernel), into: kernelGradient.data)
    }

    /// ∂L/∂g = Gᵀ (∂L/∂U) G for every (input, output) channel pair, from [36, in, out] into
    /// (3, 3, in, out): eight output channels at a time, in groups of blocks whose 36 values are
    /// gathered and 9 results scattered as contiguous runs (as `WinogradPass` transforms kernels).
    private func inverseTransform(_ transformed: UnsafeRawPointer, into gradient: UnsafeMutableRawPointer) {
        let pairs = geometry.inChannels * geometry.outChannels
        let blocks = pairs / 8
        let group = WinogradKernelGradient.group
        let groups = (blocks + group - 1) / group
        let buffers = WinogradKernelBuffers(staging: transformed, transformed: gradient)
        let parts = min(max(1, OpenMPLoop.threads), groups)
        let positions = WinogradTransform.positions
        OpenMPLoop.forEach(parts) { part in
            withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: group * (positions + 9) + 18) { scratch in
                guard let values = scratch.baseAddress else { return }
                let taps = values + positions * group, middle = taps + 9 * group
                for index in (0..<groups).split(part, of: parts) {
                    let first = index &* group, count = min(group, blocks &- first)
                    let offset = first &* 32
                    for position in 0..<positions {
                        let source = position &* pairs &* 4 &+ offset
                        for block in 0..<count {
                            values[block &* positions &+ position] = buffers.staging.loadUnaligned(fromByteOffset: source &+ block &* 32,
                                                                                                   as: SIMD8<Float>.self)
                        }
                    }
                    for block in 0..<count {
                        let u = values + block &* positions, g = taps + block &* 9
                        // Gᵀ down each of the six columns, then across each of the three rows.
                        for k in 0..<6 {
                            let r = WinogradTransform.kernelGradientRow(u[k], u[6 &+ k], u[12 &+ k], u[18 &+ k], u[24 &+ k], u[30 &+ k])
                            middle[k] = r.0; middle[6 &+ k] = r.1; middle[12 &+ k] = r.2
                        }
                        for a in 0..<3 {
                            let row = middle + a &* 6
                            let r = WinogradTransform.kernelGradientRow(row[0], row[1], row[2], row[3], row[4], row[5])
                            g[a &* 3] = r.0; g[a &* 3 &+ 1] = r.1; g[a &* 3 &+ 2] = r.2
                        }
                    }
                    for tap in 0..<9 {
                        let destination = tap &* pairs &* 4 &+ offset
                        for block in 0..<count {
                            buffers.transformed.storeBytes(of: taps[block &* 9 &+ tap], toByteOffset: destination &+ block &* 32,
                                                           as: SIMD8<Float>.self)
                        }
                    }
                }
            }
        }
    }

    /// Blocks of eight channel pairs inverse-transformed together (see `WinogradPass.kernelGroup`).
    private static let group = 16
}

/// The memories of a `WinogradKernelGradient` (∂L/∂U, the transformed input and the transformed
/// gradient), and oneDNN's matmuls over them when the gradient uses those.
private struct WinogradGradientMemories {
    let kernelGradient: DNNLMemory
    let transformedInput: DNNLMemory
    let transformedGradient: DNNLMemory
    let matmul: WinogradGradientMatmul?

    /// `memories`: ∂L/∂U, the transformed input and the transformed gradient, in that order.
    init(_ memories: [DNNLMemory], geometry: WinogradGeometry, tileCount: Int, usesMatmul: Bool, engine: DNNLEngine) throws {
        guard memories.count == 3 else { throw UNetError("a Winograd kernel gradient needs 3 memories, got \(memories.count)") }
        (kernelGradient, transformedInput, transformedGradient) = (memories[0], memories[1], memories[2])
        matmul = usesMatmul ? try WinogradGradientMatmul(memories, geometry: geometry, tileCount: tileCount, engine: engine) : nil
    }
}

/// The matmuls of a chunk's products, [36, in, rows] (the transformed input read transposed) ×
/// [36, rows, out]: the first chunk's overwrites ∂L/∂U, later ones add to it by a sum post-op.
/// The shorter last chunk has its own, since its rows beyond its tiles hold another chunk's values.
private struct WinogradGradientMatmul {
    let firstChunk: PrimitiveCall?
    /// Whole chunks after the first; nil when there are none.
    let laterChunk: PrimitiveCall?
    /// A shorter last chunk after the first; nil when there is none.
    let lastChunk: PrimitiveCall?

    /// `memories`: ∂L/∂U, the transformed input and the transformed gradient, in that order.
    init(_ memories: [DNNLMemory], geometry: WinogradGeometry, tileCount: Int, engine: DNNLEngine) throws {
        let chunk = geometry.chunkTiles, last = tileCount % chunk
        firstChunk = try WinogradGradientMatmul.call(rows: min(chunk, tileCount), accumulates: false, geometry: geometry,
                                                     memories: memories, engine: engine)
        laterChunk = tileCount >= 2 * chunk
            ? try WinogradGradientMatmul.call(rows: chunk, accumulates: true, geometry: geometry, memories: memories, engine: engine) : nil
        lastChunk = last > 0 && tileCount > chunk
            ? try WinogradGradientMatmul.call(rows: last, accumulates: true, geometry: geometry, memories: memories, engine: engine) : nil
    }

    private static func call(rows: Int, accumulates: Bool, geometry: WinogradGeometry, memories: [DNNLMemory],
                             engine: DNNLEngine) throws -> PrimitiveCall {
        let positions = WinogradTransform.positions, chunk = geometry.chunkTiles
        let (inChannels, outChannels) = (geometry.inChannels, geometry.outChannels)
        let input = try DNNLMemory(view: MemoryDescriptor(dims: [positions, inChannels, rows], strides: [chunk * inChannels, 1, inChannels]),
                                   of: memories[1], engine: engine)
        let gradient = try DNNLMemory(view: MemoryDescriptor(dims: [positions, rows, outChannels], strides: [chunk * outChannels, outChannels, 1]),
                                      of: memories[2], engine: engine)
        var src = input.descriptor.raw, wei = gradient.descriptor.raw, dst = memories[0].descriptor.raw
        var operation = dnnl_matmul_desc_t()
        try check(dnnl_matmul_desc_init(&operation, &src, &wei, nil, &dst), "matmul_desc_init Winograd gradient")
        let descriptor = try PrimitiveDescriptor(operation: operation, attributes: PrimitiveAttributes(sum: accumulates), engine: engine,
                                                 what: "Winograd kernel-gradient matmul \(inChannels)×\(rows)×\(outChannels)")
        return try PrimitiveCall(descriptor, [
            (ExecutionArgument.source, input), (ExecutionArgument.weights, gradient), (ExecutionArgument.destination, memories[0]),
        ])
    }
}

/// The buffers of one Winograd kernel gradient, for the transform threads.
/// `@unchecked Sendable`: `WinogradKernelGradient.run` keeps every buffer alive while it waits for
/// the threads; they only read the input and gradient, write disjoint tiles of the transformed
/// buffers, disjoint columns of ∂L/∂U, and each its own row of bias sums.
private struct WinogradGradientBuffers: @unchecked Sendable {
    let input: UnsafeMutableRawPointer
    let outputGradient: UnsafeMutableRawPointer
    let transformedInput: UnsafeMutableRawPointer
    let transformedGradient: UnsafeMutableRawPointer
    /// ∂L/∂U, which `BlockedGradientProduct` writes.
    let kernelGradient: UnsafeMutableRawPointer
    let biasSums: UnsafeMutablePointer<SIMD8<Float>>
}
