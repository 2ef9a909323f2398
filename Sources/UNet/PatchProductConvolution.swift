import CDNNL
import CPanelProduct

/// The forward pass of a stride-1 "same" convolution with bias and optional ReLU on small images
/// as one matrix product by the AVX2 panel kernel: [pixels, k·k·in] input patches (`PatchMatrix`)
/// times the kernel's [k·k·in, out] rows, stored in panels (`PanelProduct`). On the default
/// model's 5×5 level (200 pixels in a batch of 8, 512 and 1024 channels) oneDNN 2.6's direct
/// convolution runs at about 100–110 GFLOP/s on AVX2 and the panel kernel at 146–152, with the
/// kernel already in panels (`docs/performance.md`).
final class PatchProductConvolution {
    private let engine: DNNLEngine
    private let kernel: ParameterTensor
    private let relu: Bool
    /// The input's patches: their shape is the backward pass's too.
    let matrix: PatchMatrix
    private let product: PanelProduct
    /// The input in channel-last order, and the reorder that copies it there when it is not.
    private let input: DNNLMemory, inputCopy: PrimitiveCall?
    /// The kernel in (k, k, in, out) order, which is a row-major [k·k·in, out] matrix, and the
    /// reorder that copies the master there when it is kept in another layout (unused when the
    /// master is in the panels' order). In training graphs it holds the step's kernel from the
    /// forward run on, for the input gradient.
    let kernelRows: DNNLMemory
    private let kernelCopy: PrimitiveCall?
    /// Whether the master itself is in the panels' order (then nothing is packed).
    private let masterIsPanels: Bool
    private let bias: DNNLMemory
    private let output: DNNLMemory
    /// The kernel's panels (in inference the master itself, or kept with the parameter and shared
    /// by the graphs of every batch shape; in training packed anew every step, as the kernel
    /// changes every step), the patches, and the product: [pixels, out], channel-last, reordered
    /// into the output.
    private let descriptors: (panels: MemoryDescriptor, patches: MemoryDescriptor, products: MemoryDescriptor)
    private let keptPanels: DNNLMemory?
    /// Panels, patches and products are views of the graph's Winograd workspace (the panels only
    /// in training), made on the first run: its buffers exist once every layer has reserved its share.
    private let workspace: WinogradWorkspace
    private var memories: (panels: DNNLMemory, patches: DNNLMemory, products: DNNLMemory, outputCopy: PrimitiveCall)?

    /// Whether this product should run the forward pass of a convolution of `input`: 3×3 kernels
    /// on images of at most `PatchProductKernelGradient.largestImage` pixels (the sizes measured),
    /// where the graph multiplies by the AVX2 panel kernel and computes in f32.
    static func applies(to input: Activation, kernelSize: Int, outChannels: Int, graph: NetworkGraph) -> Bool {
        kernelSize == 3 && outChannels % 8 == 0 && graph.winogradPanelProducts && PanelProduct.supported
            && input.height * input.width <= PatchProductKernelGradient.largestImage
            && (graph.precision == .f32 || !graph.engine.computesBF16Natively)
    }

    /// Computes `output` (any layout of dims [batch, out, height, width]) from `input` with
    /// `kernel` and `bias`. `keepsPanels` (inference): the kernel, when it has no layout yet, is
    /// bound in the panels' order if its output channels fill whole panels; otherwise panels are
    /// kept with the parameter for every inference graph, repacked only when the kernel changes.
    /// Without it (training) the kernel is bound to (k, k, in, out) and packed every run.
    init(engine: DNNLEngine, input: Activation, output: DNNLMemory, kernel: ParameterTensor, bias: ParameterTensor,
         relu: Bool, keepsPanels: Bool, workspace: WinogradWorkspace) throws {
        let size = kernel.kerasShape[0], outChannels = kernel.kerasShape[3]
        self.engine = engine
        self.kernel = kernel
        self.relu = relu
        self.output = output
        self.workspace = workspace
        matrix = PatchMatrix(batch: input.batch, height: input.height, width: input.width, channels: input.channels, kernelSize: size)
        product = PanelProduct(count: 1, depth: matrix.columns, columns: outChannels)
        (self.input, inputCopy) = try PatchMatrix.channelLast(input.value, dims: input.dims, engine: engine)

        let dims = [outChannels, input.channels, size, size]
        let rows = try MemoryDescriptor(dims: dims, tag: dnnl_hwio)
        // Predicting, a kernel whose output channels fill whole 16-column panels is kept in the
        // panels' order itself (oneDNN's Ohwi16o): nothing to pack, and no second copy of it.
        // Training keeps (k, k, in, out), which the kernel gradient writes without a reorder.
        let panelOrder = try MemoryDescriptor(dims: dims, tag: dnnl_Ohwi16o)
        let wholePanels = keepsPanels && outChannels % 16 == 0
        let master = try kernel.bind(wholePanels ? panelOrder : rows)
        masterIsPanels = wholePanels && master.descriptor.sameLayout(as: panelOrder)
        if master.descriptor.sameLayout(as: rows) || masterIsPanels {
            (kernelRows, kernelCopy) = (master, nil)
        } else {
            kernelRows = try DNNLMemory(rows, engine: engine)
            kernelCopy = try PrimitiveCall.reorder(from: master, to: kernelRows, engine: engine)
        }
        self.bias = try bias.bind(MemoryDescriptor(dims: [outChannels], tag: dnnl_x))
        descriptors = (try MemoryDescriptor(dims: [product.floatsPerMatrix], tag: dnnl_a),
                       try MemoryDescriptor(dims: [matrix.rows * matrix.columns], tag: dnnl_a),
                       try .nhwc(input.batch, outChannels, input.height, input.width))
        if masterIsPanels {
            keptPanels = master
        } else if !keepsPanels {
            keptPanels = nil
        } else if let kept = kernel.keptKernel, kept.memory.descriptor.sameLayout(as: descriptors.panels) {
            keptPanels = kept.memory
        } else {
            keptPanels = try DNNLMemory(descriptors.panels, engine: engine)
        }
        workspace.reserve([keepsPanels ? nil : descriptors.panels, descriptors.patches, descriptors.products])
    }

    /// Runs the convolution: the input's patches, their product with the kernel plus the bias
    /// (and the ReLU) on the thread team, and the reorder into the output.
    func run() throws {
        let memories = try self.memories ?? makeMemories()
        try packPanels(into: memories.panels)
        if let inputCopy {
            try inputCopy.execute(on: engine)
            try engine.wait()
        }
        let matrix = matrix, product = product, relu = relu
        let buffers = PatchProductBuffers(source: UnsafePointer(input.data.assumingMemoryBound(to: Float.self)),
                                          patches: memories.patches.data.assumingMemoryBound(to: Float.self),
                                          panels: UnsafePointer(memories.panels.data.assumingMemoryBound(to: Float.self)),
                                          bias: UnsafePointer(bias.data.assumingMemoryBound(to: Float.self)),
                                          products: memories.products.data.assumingMemoryBound(to: Float.self))
        let threads = max(1, OpenMPLoop.threads)
        OpenMPLoop.forEach(threads) { part in
            matrix.fill(buffers.patches, from: buffers.source, pixels: (0..<matrix.rows).split(part, of: threads))
        }
        OpenMPLoop.forEach(threads) { part in
            PanelProduct.forEachRun(matrices: 1, groups: product.panels, part: part, of: threads) { _, run in
                panel_product(matrix.rows, matrix.columns, product.columns, buffers.patches, matrix.columns, buffers.panels,
                              buffers.products, product.columns, run.lowerBound, run.upperBound)
                buffers.addBias(rows: matrix.rows, columns: (run.lowerBound * 16)..<min(product.columns, run.upperBound * 16),
                                width: product.columns, relu: relu)
            }
        }
        try memories.outputCopy.execute(on: engine)
        try engine.wait()
    }

    private func makeMemories() throws -> (panels: DNNLMemory, patches: DNNLMemory, products: DNNLMemory, outputCopy: PrimitiveCall) {
        let views = try workspace.views([keptPanels == nil ? descriptors.panels : nil, descriptors.patches, descriptors.products])
        guard let panels = keptPanels ?? views[0], let patches = views[1], let products = views[2] else {
            throw UNetError("the patch product of \(kernel.name): the workspace gave no memory")
        }
        let memories = (panels, patches, products, try PrimitiveCall.reorder(from: products, to: output, engine: engine))
        self.memories = memories
        return memories
    }

    /// Packs the kernel into panels: in training every step (the workspace holds other passes'
    /// data in between), in inference when the kernel changed since the kept panels were packed.
    private func packPanels(into panels: DNNLMemory) throws {
        if masterIsPanels { return }
        if keptPanels != nil, let kept = kernel.keptKernel, kept.memory === panels, kept.version == kernel.version { return }
        if let kernelCopy {
            try kernelCopy.execute(on: engine)
            try engine.wait()
        }
        let product = product
        let packing = PanelPacking(rows: UnsafePointer(kernelRows.data.assumingMemoryBound(to: Float.self)),
                                   panels: panels.data.assumingMemoryBound(to: Float.self))
        let threads = min(max(1, OpenMPLoop.threads), product.panels)
        OpenMPLoop.forEach(threads) { part in
            for panel in (0..<product.panels).split(part, of: threads) {
                let first = panel * 16, width = min(16, product.columns - first)
                for row in 0..<product.depth {
                    (packing.panels + product.offset(row: row, column: first))
                        .update(from: packing.rows + row * product.columns + first, count: width)
                }
            }
        }
        if keptPanels != nil { kernel.keptKernel = (panels, kernel.version) }
    }
}

/// The memories a `PatchProductConvolution` reads and writes, for its threads.
/// `@unchecked Sendable`: the convolution keeps them alive while the threads run; the source, the
/// panels and the bias are only read, and each thread writes its own rows of the patches and its
/// own columns of the products.
private struct PatchProductBuffers: @unchecked Sendable {
    let source: UnsafePointer<Float>
    let patches: UnsafeMutablePointer<Float>
    let panels: UnsafePointer<Float>
    let bias: UnsafePointer<Float>
    let products: UnsafeMutablePointer<Float>

    /// Adds the bias to `columns` of every row of the products (rows `width` floats apart), and
    /// with `relu` sets the negative ones to zero.
    func addBias(rows: Int, columns: Range<Int>, width: Int, relu: Bool) {
        for row in 0..<rows {
            let values = products + row * width
            for column in columns {
                let value = values[column] + bias[column]
                values[column] = relu && value < 0 ? 0 : value
            }
        }
    }
}

/// The kernel's rows and its panels, for the threads that pack them.
/// `@unchecked Sendable`: the convolution keeps both alive while the threads run, the rows are
/// only read, and each thread writes its own panels.
struct PanelPacking: @unchecked Sendable {
    let rows: UnsafePointer<Float>
    let panels: UnsafeMutablePointer<Float>
}
