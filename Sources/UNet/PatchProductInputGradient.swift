import CDNNL
import CPanelProduct

/// The input gradient of a training graph's `PatchProductConvolution`, as one matrix product by
/// the AVX2 panel kernel: the output gradient [pixels, out] times the kernel transposed,
/// [out, k·k·in], is the gradient of every output pixel's input patch, and each input pixel sums
/// the patch gradients that cover it (col2im). On the default model's 5×5 level this replaces
/// oneDNN's direct backward-data convolution and the per-step reorder of the kernel into its layout.
final class PatchProductInputGradient {
    private let engine: DNNLEngine
    private let forward: PatchProductConvolution
    /// [pixels, out] times the kernel transposed, in panels of 16 of its k·k·in columns.
    private let product: PanelProduct
    /// The output gradient in channel-last order, and the reorder that copies it there.
    private let outputGradient: DNNLMemory, outputGradientCopy: PrimitiveCall?
    /// The input gradient in channel-last order, reordered into `sink`.
    private let inputGradient: DNNLMemory
    private let sinkCopy: PrimitiveCall
    private let descriptors: (panels: MemoryDescriptor, patches: MemoryDescriptor)
    /// The transposed kernel's panels and the patch gradients: views of the graph's Winograd
    /// workspace, made on the first run.
    private let workspace: WinogradWorkspace
    private var memories: (panels: DNNLMemory, patches: DNNLMemory)?

    /// For `forward`'s input, from `outputGradient` (in its output's layout) into `sink` (in its
    /// input's layout).
    init(engine: DNNLEngine, forward: PatchProductConvolution, outputGradient: DNNLMemory, sink: DNNLMemory,
         workspace: WinogradWorkspace) throws {
        self.engine = engine
        self.forward = forward
        self.workspace = workspace
        let matrix = forward.matrix
        let outChannels = outputGradient.descriptor.dims[1]
        product = PanelProduct(count: 1, depth: outChannels, columns: matrix.columns)
        (self.outputGradient, outputGradientCopy) = try PatchMatrix.channelLast(
            outputGradient, dims: [matrix.batch, outChannels, matrix.height, matrix.width], engine: engine)
        inputGradient = try DNNLMemory(.nhwc(matrix.batch, matrix.channels, matrix.height, matrix.width), engine: engine)
        sinkCopy = try PrimitiveCall.reorder(from: inputGradient, to: sink, engine: engine)
        descriptors = (try MemoryDescriptor(dims: [product.floatsPerMatrix], tag: dnnl_a),
                       try MemoryDescriptor(dims: [matrix.rows * matrix.columns], tag: dnnl_a))
        workspace.reserve([descriptors.panels, descriptors.patches, nil])
    }

    /// Whether the input gradient of a convolution of `input` can be computed this way: the
    /// transposed kernel's columns (k·k·in) must be whole 8-column groups.
    static func applies(to input: Activation) -> Bool {
        input.channels % 8 == 0
    }

    /// Computes the input gradient into the sink: the transposed kernel's panels, the product on
    /// the thread team, each input pixel's sum over the patches, and the reorder into the sink.
    func run() throws {
        let memories: (panels: DNNLMemory, patches: DNNLMemory)
        if let existing = self.memories {
            memories = existing
        } else {
            let views = try workspace.views([descriptors.panels, descriptors.patches, nil])
            guard let panels = views[0], let patches = views[1] else {
                throw UNetError("the patch-product input gradient: the workspace gave no memory")
            }
            memories = (panels, patches)
            self.memories = memories
        }
        if let outputGradientCopy {
            try outputGradientCopy.execute(on: engine)
            try engine.wait()
        }
        let matrix = forward.matrix, product = product
        let outChannels = product.depth
        // Column c of the transposed kernel is row c of the (k, k, in, out) kernel.
        let packing = PanelPacking(rows: UnsafePointer(forward.kernelRows.data.assumingMemoryBound(to: Float.self)),
                                   panels: memories.panels.data.assumingMemoryBound(to: Float.self))
        let packers = min(max(1, OpenMPLoop.threads), product.panels)
        OpenMPLoop.forEach(packers) { part in
            let panels = (0..<product.panels).split(part, of: packers)
            pack_transposed_panels(product.columns, outChannels, packing.rows, packing.panels, panels.lowerBound, panels.upperBound)
        }
        let buffers = PatchGradientBuffers(outputGradient: UnsafePointer(outputGradient.data.assumingMemoryBound(to: Float.self)),
                                           panels: UnsafePointer(memories.panels.data.assumingMemoryBound(to: Float.self)),
                                           patches: memories.patches.data.assumingMemoryBound(to: Float.self),
                                           inputGradient: inputGradient.data.assumingMemoryBound(to: Float.self))
        let threads = max(1, OpenMPLoop.threads)
        OpenMPLoop.forEach(threads) { part in
            PanelProduct.forEachRun(matrices: 1, groups: product.panels, part: part, of: threads) { _, run in
                panel_product(matrix.rows, outChannels, product.columns, buffers.outputGradient, outChannels, buffers.panels,
                              buffers.patches, product.columns, run.lowerBound, run.upperBound)
            }
        }
        OpenMPLoop.forEach(threads) { part in
            matrix.sumPatches(buffers.patches, into: buffers.inputGradient, pixels: (0..<matrix.rows).split(part, of: threads))
        }
        try sinkCopy.execute(on: engine)
        try engine.wait()
    }
}

/// The memories a `PatchProductInputGradient` reads and writes, for its threads.
/// `@unchecked Sendable`: the input gradient keeps them alive while the threads run; the output
/// gradient and the panels are only read, each thread writes its own columns of the patch
/// gradients and its own pixels of the input gradient.
private struct PatchGradientBuffers: @unchecked Sendable {
    let outputGradient: UnsafePointer<Float>
    let panels: UnsafePointer<Float>
    let patches: UnsafeMutablePointer<Float>
    let inputGradient: UnsafeMutablePointer<Float>
}
