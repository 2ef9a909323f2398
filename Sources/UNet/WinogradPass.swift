import CDNNL
import CPanelProduct

/// One 3×3 "same" convolution by Winograd's F(4×4, 3×3) over nChw8c or nChw16c tensors: the input
/// transform of a chunk of tiles, 36 matrix products [tiles, in]×[in, out] (by `PanelProduct`,
/// or on AVX-512 CPUs by one oneDNN batched matmul), and the output transform (with an optional
/// bias and ReLU), chunk after chunk. The forward convolution and its backward-data convolution
/// (the output gradient convolved with the kernel rotated 180° and its channels swapped) are both
/// one of these.
///
/// The kernel is read from the parameter's master memory: directly where it is in the pass's
/// order, through 8×8 transposes where it is the transpose of it (the backward-data pass with
/// panels), else through a reorder into a plain staging copy. It is transformed again whenever
/// the parameter's version changes.
final class WinogradPass {
    let geometry: WinogradGeometry
    private let tileCount: Int
    private let engine: DNNLEngine
    private let kernel: ParameterTensor
    /// The kernel as (3, 3, in, out) of this pass, out fastest; or, when `readsTransposed`, the
    /// parameter's master as (3, 3, out, in).
    private let kernelStaging: DNNLMemory
    private let kernelCopy: PrimitiveCall?
    /// The input-gradient pass with panels reads the forward kernel's master directly, through
    /// 8×8 transposes, instead of a transposed copy refreshed every training step: the copies
    /// took about 28 ms of a 1.7 s step (oneDNN reorders) and as much memory as the kernels.
    private let readsTransposed: Bool
    /// Taps read in reverse order: the backward-data convolution's kernel is the forward one rotated.
    private let rotated: Bool
    /// Where the transformed input and products live, and in training the transformed kernels
    /// (which another pass may have overwritten since): the graph's shared workspace.
    private let workspace: WinogradWorkspace
    /// Inference keeps the transformed kernels with the parameter, shared by every graph, and
    /// transforms them again only when the parameter changes.
    private let keepsKernel: Bool
    /// [36, in, out] (or [36, in·out] in panels), [36, chunk, in] and [36, chunk, out].
    private let descriptors: [MemoryDescriptor]
    /// The products by our own kernel, with the transformed kernels in its panels; nil for
    /// oneDNN's matmul.
    private let panelProduct: PanelProduct?
    private var memories: WinogradPassMemories?

    /// A pass over `batch` images of `height`×`width`. `kernelLayout` describes `kernel`'s
    /// forward dims (out, in, 3, 3) so that its memory order is (3, 3, in, out) of this pass.
    /// `channelBlocks`: channels per block of the source's and the destination's layout (8 or 16).
    /// `panelProducts`: multiply by `PanelProduct` rather than oneDNN's matmul.
    init(engine: DNNLEngine, batch: Int, height: Int, width: Int, inChannels: Int, outChannels: Int,
         channelBlocks: (input: Int, output: Int), relu: Bool,
         kernel: ParameterTensor, kernelLayout: MemoryDescriptor, rotated: Bool, workspace: WinogradWorkspace,
         keepsKernel: Bool, panelProducts: Bool, placement: WinogradOutputPlacement = WinogradOutputPlacement()) throws {
        let side = WinogradTransform.outputSide, positions = WinogradTransform.positions
        guard let master = kernel.master else { throw UNetError("parameter \(kernel.name) has no values") }
        self.engine = engine
        self.kernel = kernel
        self.rotated = rotated
        let tilesDown = (height + side - 1) / side
        let tilesAcross = (width + side - 1) / side
        tileCount = batch * tilesDown * tilesAcross
        let chunkTiles = min(tileCount, WinogradPass.chunkTiles(inChannels: inChannels, outChannels: outChannels))
        geometry = WinogradGeometry(height: height, width: width, inChannels: inChannels, outChannels: outChannels,
                                    tilesDown: tilesDown, tilesAcross: tilesAcross, chunkTiles: chunkTiles, relu: relu,
                                    inputBlock: channelBlocks.input, outputBlock: channelBlocks.output, placement: placement)
        if master.descriptor.sameLayout(as: kernelLayout) {
            (kernelStaging, kernelCopy, readsTransposed) = (master, nil, false)
        } else if panelProducts, inChannels % 8 == 0, outChannels % 8 == 0,
                  master.descriptor.sameLayout(as: try MemoryDescriptor(dims: [inChannels, outChannels, 3, 3], tag: dnnl_hwio)) {
            (kernelStaging, kernelCopy, readsTransposed) = (master, nil, true)
        } else {
            kernelStaging = try DNNLMemory(kernelLayout, engine: engine)
            kernelCopy = try PrimitiveCall.reorder(from: master, to: kernelStaging, engine: engine)
            readsTransposed = false
        }

        panelProduct = panelProducts ? PanelProduct(count: positions, depth: inChannels, columns: outChannels) : nil
        descriptors = [
            panelProducts
                ? try MemoryDescriptor(dims: [positions, inChannels * outChannels], tag: dnnl_ab)
                : try MemoryDescriptor(dims: [positions, inChannels, outChannels], tag: dnnl_abc),
            try MemoryDescriptor(dims: [positions, chunkTiles, inChannels], tag: dnnl_abc),
            try MemoryDescriptor(dims: [positions, chunkTiles, outChannels], tag: dnnl_abc),
        ]
        self.workspace = workspace
        self.keepsKernel = keepsKernel
        workspace.reserve(keepsKernel ? [nil, descriptors[1], descriptors[2]] : descriptors)
    }

    /// Tiles per chunk: enough rows for the matrix products to run near peak, few enough that a
    /// chunk's transformed input and products (36 × tiles × channels each) stay in cache.
    static func chunkTiles(inChannels: Int, outChannels: Int) -> Int {
        let bytesPerTile = WinogradTransform.positions * (inChannels + outChannels) * 4
        return max(128, min(1024, (4 << 20) / bytesPerTile))
    }

    /// Convolves `source` into `destination` (in this pass's shape and channel blocks, or the
    /// wider tensor of the placement), adding `bias` when given; writes the pooled output into
    /// `pooled` when the placement pools.
    func run(source: DNNLMemory, destination: DNNLMemory, bias: DNNLMemory?, pooled: DNNLMemory? = nil) throws {
        if geometry.placement.pools && pooled == nil { throw UNetError("Winograd pass \(kernel.name): no memory for the pooled output") }
        let memories: WinogradPassMemories
        if let existing = self.memories {
            memories = existing
        } else {
            let kernelMemory: DNNLMemory
            if !keepsKernel {
                guard let view = try workspace.views([descriptors[0], nil, nil])[0] else {
                    throw UNetError("Winograd pass \(kernel.name): the workspace gave no memory for the transformed kernels")
                }
                kernelMemory = view
            } else if let kept = kernel.keptKernel, kept.memory.descriptor.sameLayout(as: descriptors[0]) {
                kernelMemory = kept.memory
            } else {
                kernelMemory = try DNNLMemory(descriptors[0], engine: engine)
            }
            let scratch = try workspace.views([nil, descriptors[1], descriptors[2]]).compactMap { $0 }
            memories = try WinogradPassMemories([kernelMemory] + scratch, usesMatmul: panelProduct == nil, engine: engine, name: kernel.name)
            self.memories = memories
        }
        if !keepsKernel {
            try transformKernel(into: memories.transformedKernel)
        } else if let kept = kernel.keptKernel, kept.memory === memories.transformedKernel, kept.version == kernel.version {
            // Inference graphs of every shape share the kept kernels: transformed already.
        } else {
            try transformKernel(into: memories.transformedKernel)
            kernel.keptKernel = (memories.transformedKernel, kernel.version)
        }
        let buffers = WinogradBuffers(source: source.data, destination: destination.data, transformedKernel: memories.transformedKernel.data,
                                      transformedInput: memories.transformedInput.data, products: memories.products.data,
                                      bias: bias?.data, pooled: pooled?.data)
        let shape = geometry, panelProduct = panelProduct, matmul = memories.matmul
        try shape.forEachChunk(tileCount: tileCount) { range, parts in
            // The transforms and products run on oneDNN's own threads, which are otherwise
            // spinning between primitives: on other threads they would have to compete with them
            // for the cores.
            OpenMPLoop.forEach(parts) { part in
                shape.transformInput(from: buffers.source, into: buffers.transformedInput, tiles: range.split(part, of: parts),
                                     chunkStart: range.lowerBound)
            }
            if let panelProduct {
                let threads = max(1, OpenMPLoop.threads)
                OpenMPLoop.forEach(threads) { part in
                    panelProduct.multiply(rows: range.count, a: buffers.transformedInput, aStride: shape.chunkTiles * shape.inChannels,
                                          b: buffers.transformedKernel, c: buffers.products, cStride: shape.chunkTiles * shape.outChannels,
                                          part: part, of: threads)
                }
            } else if let matmul {
                try matmul.execute(on: engine)
                try engine.wait()
            }
            OpenMPLoop.forEach(parts) { part in
                shape.transformOutput(buffers, tiles: range.split(part, of: parts), chunkStart: range.lowerBound)
            }
        }
    }

    /// U = G g Gᵀ for every (input, output) channel pair, into [36, in, out] or its panels: eight
    /// output channels at a time (they are adjacent in the staging copy and in U), spread over the
    /// team. Blocks go in groups that are contiguous in U, whose taps are gathered and whose 36
    /// results are stored as contiguous runs: one block at a time, the 45 streams a whole matrix
    /// apart evict each other from the cache (the reference network's transforms took 1.8× as
    /// long that way). In panels, groups contiguous in the staging copy instead, their results
    /// scattered over 8 panels, took 6.3 % of a training step's samples; these take 4.1 %, and
    /// the transform into [36, in, out] 3.0 %.
    private func transformKernel(into transformedKernel: DNNLMemory) throws {
        if let kernelCopy {
            try kernelCopy.execute(on: engine)
            try engine.wait()
        }
        let pairs = geometry.inChannels * geometry.outChannels
        let blocks = pairs / 8
        let group = WinogradPass.kernelGroup
        let groups = (blocks + group - 1) / group
        let kernels = WinogradKernelBuffers(staging: UnsafeRawPointer(kernelStaging.data), transformed: transformedKernel.data)
        let rotated = rotated
        let parts = min(OpenMPLoop.threads, groups)
        let positions = WinogradTransform.positions
        let panels = panelProduct, inChannels = geometry.inChannels, outChannels = geometry.outChannels
        let transposed = readsTransposed
        OpenMPLoop.forEach(parts) { part in
            withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: group * (9 + positions + 8) + 18) { scratch in
                withUnsafeTemporaryAllocation(of: Int.self, capacity: 3 * group) { offsets in
                    guard let taps = scratch.baseAddress, let sourceOffsets = offsets.baseAddress else { return }
                    let transformed = taps + 9 * group, left = transformed + positions * group
                    // Read transposed: the 8×8 blocks of the master that hold the group's taps
                    // (their first elements' byte offsets) and each block transposed per tap;
                    // `sourceOffsets` then holds which of them each group block takes, and
                    // `blockRows` which of its rows.
                    let transposedBlocks = left + 18, blockOrigins = sourceOffsets + group, blockRows = blockOrigins + group
                    for index in (0..<groups).split(part, of: parts) {
                        let first = index &* group, count = min(group, blocks &- first)
                        // The group's blocks are contiguous in every position's matrix; in
                        // panels, their sources are a few rows of the staging copy instead.
                        var origins = 0
                        for block in 0..<count {
                            let destination = (first &+ block) &* 8
                            guard let panels else {
                                sourceOffsets[block] = destination &* 4
                                continue
                            }
                            let (row, column) = panels.element(at: destination)
                            guard transposed else {
                                sourceOffsets[block] = (row &* outChannels &+ column) &* 4
                                continue
                            }
                            // Taps of input channel `row` for output channels `column`..<+8: row
                            // `row % 8` of the transpose of the master's rows `column`..<+8,
                            // columns `row - row % 8`..<+8.
                            let origin = (column &* inChannels &+ (row & ~7)) &* 4
                            var found = 0
                            while found < origins && blockOrigins[found] != origin { found &+= 1 }
                            if found == origins {
                                blockOrigins[origins] = origin
                                origins &+= 1
                            }
                            sourceOffsets[block] = found
                            blockRows[block] = row & 7
                        }
                        for tap in 0..<9 {
                            let source = tap &* pairs &* 4, slot = rotated ? 8 &- tap : tap
                            if transposed {
                                for origin in 0..<origins {
                                    transpose_block8((kernels.staging + (source &+ blockOrigins[origin])).assumingMemoryBound(to: Float.self),
                                                     inChannels, UnsafeMutableRawPointer(transposedBlocks + origin &* 8).assumingMemoryBound(to: Float.self))
                                }
                                for block in 0..<count {
                                    taps[block &* 9 &+ slot] = transposedBlocks[sourceOffsets[block] &* 8 &+ blockRows[block]]
                                }
                                continue
                            }
                            for block in 0..<count {
                                taps[block &* 9 &+ slot] = kernels.staging.loadUnaligned(fromByteOffset: source &+ sourceOffsets[block],
                                                                                          as: SIMD8<Float>.self)
                            }
                        }
                        for block in 0..<count {
                            WinogradTransform.kernel(UnsafePointer(taps + block &* 9), into: transformed + block &* positions, scratch: left)
                        }
                        let offset = first &* 32
                        for position in 0..<positions {
                            let destination = position &* pairs &* 4 &+ offset
                            for block in 0..<count {
                                kernels.transformed.storeBytes(of: transformed[block &* positions &+ position],
                                                               toByteOffset: destination &+ block &* 32, as: SIMD8<Float>.self)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Blocks of eight channel pairs transformed together: 512-byte runs per tap and position, and
    /// about 24 KiB of scratch, inside the L1 cache.
    private static let kernelGroup = 16
}

/// The memories a `WinogradPass` multiplies, and oneDNN's matmul over them when the pass uses it.
private struct WinogradPassMemories {
    let transformedKernel: DNNLMemory
    let transformedInput: DNNLMemory
    let products: DNNLMemory
    let matmul: PrimitiveCall?

    /// `memories`: the transformed kernels, transformed input and products, in that order.
    init(_ memories: [DNNLMemory], usesMatmul: Bool, engine: DNNLEngine, name: String) throws {
        guard memories.count == 3 else { throw UNetError("a Winograd pass needs 3 memories, got \(memories.count)") }
        (transformedKernel, transformedInput, products) = (memories[0], memories[1], memories[2])
        guard usesMatmul else {
            matmul = nil
            return
        }
        var src = transformedInput.descriptor.raw, wei = transformedKernel.descriptor.raw, dst = products.descriptor.raw
        var operation = dnnl_matmul_desc_t()
        try check(dnnl_matmul_desc_init(&operation, &src, &wei, nil, &dst), "matmul_desc_init \(name)")
        let descriptor = try PrimitiveDescriptor(operation: operation, engine: engine, what: "Winograd matmul \(name)")
        matmul = try PrimitiveCall(descriptor, [
            (ExecutionArgument.source, transformedInput), (ExecutionArgument.weights, transformedKernel),
            (ExecutionArgument.destination, products),
        ])
    }
}

/// The kernel buffers of a `WinogradPass`, for the transform threads.
/// `@unchecked Sendable`: the pass keeps both buffers alive while the threads run, the staging
/// copy is only read, and each thread writes its own blocks of output channels.
struct WinogradKernelBuffers: @unchecked Sendable {
    let staging: UnsafeRawPointer
    let transformed: UnsafeMutableRawPointer
}
