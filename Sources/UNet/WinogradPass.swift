import CDNNL

/// One 3×3 "same" convolution by Winograd's F(4×4, 3×3) over nChw8c or nChw16c tensors: the input transform
/// of a chunk of tiles, one oneDNN batched matmul [36, tiles, in]×[36, in, out], and the output
/// transform (with an optional bias and ReLU), chunk after chunk. The forward convolution and its
/// backward-data convolution (the output gradient convolved with the kernel rotated 180° and its
/// channels swapped) are both one of these.
///
/// The kernel is read from the parameter's master memory through a reorder into a plain staging
/// copy, and transformed again whenever the parameter's version changes.
final class WinogradPass {
    let geometry: WinogradGeometry
    private let tileCount: Int
    private let engine: DNNLEngine
    private let kernel: ParameterTensor
    /// The kernel as (3, 3, in, out) of this pass, out fastest.
    private let kernelStaging: DNNLMemory
    private let kernelCopy: PrimitiveCall?
    /// Taps read in reverse order: the backward-data convolution's kernel is the forward one rotated.
    private let rotated: Bool
    /// Where the transformed input and products live, and in training the transformed kernels
    /// (which another pass may have overwritten since): the graph's shared workspace.
    private let workspace: WinogradWorkspace
    /// Inference keeps the transformed kernels with the parameter, shared by every graph, and
    /// transforms them again only when the parameter changes.
    private let keepsKernel: Bool
    /// [36, in, out], [36, chunk, in] and [36, chunk, out].
    private let descriptors: [MemoryDescriptor]
    private var matmul: WinogradMatmul?

    /// A pass over `batch` images of `height`×`width`. `kernelLayout` describes `kernel`'s
    /// forward dims (out, in, 3, 3) so that its memory order is (3, 3, in, out) of this pass.
    /// `channelBlocks`: channels per block of the source's and the destination's layout (8 or 16).
    init(engine: DNNLEngine, batch: Int, height: Int, width: Int, inChannels: Int, outChannels: Int,
         channelBlocks: (input: Int, output: Int), relu: Bool,
         kernel: ParameterTensor, kernelLayout: MemoryDescriptor, rotated: Bool, workspace: WinogradWorkspace,
         keepsKernel: Bool, placement: WinogradOutputPlacement = WinogradOutputPlacement()) throws {
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
            kernelStaging = master
            kernelCopy = nil
        } else {
            kernelStaging = try DNNLMemory(kernelLayout, engine: engine)
            kernelCopy = try PrimitiveCall.reorder(from: master, to: kernelStaging, engine: engine)
        }

        descriptors = [
            try MemoryDescriptor(dims: [positions, inChannels, outChannels], tag: dnnl_abc),
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
        let matmul: WinogradMatmul
        if let existing = self.matmul {
            matmul = existing
        } else if keepsKernel {
            let shared: DNNLMemory
            if let kept = kernel.winogradKernel, kept.memory.descriptor.sameLayout(as: descriptors[0]) {
                shared = kept.memory
            } else {
                shared = try DNNLMemory(descriptors[0], engine: engine)
                kernel.winogradKernel = (shared, -1)
            }
            let scratch = try workspace.views([nil, descriptors[1], descriptors[2]])
            matmul = try WinogradMatmul([shared] + scratch.compactMap { $0 }, engine: engine, name: kernel.name)
            self.matmul = matmul
        } else {
            matmul = try WinogradMatmul(workspace.views(descriptors).compactMap { $0 }, engine: engine, name: kernel.name)
            self.matmul = matmul
        }
        if !keepsKernel {
            try transformKernel(into: matmul.transformedKernel)
        } else if let kept = kernel.winogradKernel, kept.version != kernel.version {
            try transformKernel(into: matmul.transformedKernel)
            kernel.winogradKernel = (kept.memory, kernel.version)
        }
        let multiply = matmul.call
        let buffers = WinogradBuffers(source: source.data, destination: destination.data, transformedInput: matmul.transformedInput.data,
                                      products: matmul.products.data, bias: bias?.data, pooled: pooled?.data)
        let shape = geometry
        try shape.forEachChunk(tileCount: tileCount) { range, parts in
            // The transforms run on oneDNN's own threads, which are otherwise spinning between
            // primitives: on other threads they would have to compete with them for the cores.
            OpenMPLoop.forEach(parts) { part in
                shape.transformInput(from: buffers.source, into: buffers.transformedInput, tiles: range.split(part, of: parts),
                                     chunkStart: range.lowerBound)
            }
            try multiply.execute(on: engine)
            try engine.wait()
            OpenMPLoop.forEach(parts) { part in
                shape.transformOutput(buffers, tiles: range.split(part, of: parts), chunkStart: range.lowerBound)
            }
        }
    }

    /// U = G g Gᵀ for every (input, output) channel pair, into [36, in, out]: eight output
    /// channels at a time (they are adjacent in the staging copy and in U), spread over the team.
    /// Blocks go in groups whose taps are gathered and whose 36 results are scattered as
    /// contiguous runs: one block at a time, the 45 streams a whole matrix apart evict each other
    /// from the cache (the reference network's transforms took 1.8× as long that way).
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
        OpenMPLoop.forEach(parts) { part in
            withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: group * (9 + positions) + 18) { scratch in
                guard let taps = scratch.baseAddress else { return }
                let transformed = taps + 9 * group, left = transformed + positions * group
                for index in (0..<groups).split(part, of: parts) {
                    let first = index &* group, count = min(group, blocks &- first)
                    let offset = first &* 32
                    for tap in 0..<9 {
                        let source = tap &* pairs &* 4 &+ offset, slot = rotated ? 8 &- tap : tap
                        for block in 0..<count {
                            taps[block &* 9 &+ slot] = kernels.staging.loadUnaligned(fromByteOffset: source &+ block &* 32, as: SIMD8<Float>.self)
                        }
                    }
                    for block in 0..<count {
                        WinogradTransform.kernel(UnsafePointer(taps + block &* 9), into: transformed + block &* positions, scratch: left)
                    }
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

    /// Blocks of eight channel pairs transformed together: 512-byte runs per tap and position, and
    /// about 24 KiB of scratch, inside the L1 cache.
    private static let kernelGroup = 16
}

/// The batched matrix product of a `WinogradPass` and the three memories it works on.
private struct WinogradMatmul {
    let transformedKernel: DNNLMemory
    let transformedInput: DNNLMemory
    let products: DNNLMemory
    let call: PrimitiveCall

    /// `memories`: the transformed kernels, transformed input and products, in that order.
    init(_ memories: [DNNLMemory], engine: DNNLEngine, name: String) throws {
        guard memories.count == 3 else { throw UNetError("a Winograd matmul needs 3 memories, got \(memories.count)") }
        (transformedKernel, transformedInput, products) = (memories[0], memories[1], memories[2])
        var src = transformedInput.descriptor.raw, wei = transformedKernel.descriptor.raw, dst = products.descriptor.raw
        var operation = dnnl_matmul_desc_t()
        try check(dnnl_matmul_desc_init(&operation, &src, &wei, nil, &dst), "matmul_desc_init \(name)")
        let descriptor = try PrimitiveDescriptor(operation: operation, engine: engine, what: "Winograd matmul \(name)")
        call = try PrimitiveCall(descriptor, [
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
