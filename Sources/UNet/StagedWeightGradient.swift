/// A weight gradient that a host step writes in a layout of its choosing: straight into the
/// parameter's gradient when the layouts agree, else into a view of the graph's Winograd
/// workspace, reordered into the gradient right after. Between two Winograd passes the workspace
/// holds nothing, so the staging copy needs no memory of its own: for the default model's 5×5
/// level, whose kernel gradients are computed in (3, 3, in, out) order for masters that the
/// direct convolutions keep blocked, that is 57 MB of a training step's peak.
final class StagedWeightGradient {
    private let engine: DNNLEngine
    private let gradient: DNNLMemory
    private let descriptor: MemoryDescriptor
    private let workspace: WinogradWorkspace
    /// The workspace view and its reorder into the gradient, made on the first write: the
    /// workspace's buffers exist only once every layer has reserved its share.
    private var staging: (memory: DNNLMemory, copy: PrimitiveCall)?

    /// For `parameter`'s gradient written as `descriptor` (the layout it is bound to if it has
    /// none yet).
    init(_ parameter: ParameterTensor, as descriptor: MemoryDescriptor, graph: NetworkGraph) throws {
        let gradient = try parameter.trainingGradient(binding: descriptor)
        engine = graph.engine
        self.gradient = gradient
        self.descriptor = descriptor
        workspace = graph.winogradWorkspace
        if !gradient.descriptor.sameLayout(as: descriptor) { workspace.reserve([descriptor, nil, nil]) }
    }

    /// Runs `body` on the memory to write the gradient into, then moves what it wrote into the
    /// parameter's gradient.
    func write(_ body: (DNNLMemory) throws -> Void) throws {
        if gradient.descriptor.sameLayout(as: descriptor) {
            try body(gradient)
            return
        }
        let staging: (memory: DNNLMemory, copy: PrimitiveCall)
        if let existing = self.staging {
            staging = existing
        } else {
            guard let view = try workspace.views([descriptor, nil, nil])[0] else {
                throw UNetError("the Winograd workspace gave no memory for a staged weight gradient \(descriptor.dims)")
            }
            staging = (view, try PrimitiveCall.reorder(from: view, to: gradient, engine: engine))
            self.staging = staging
        }
        try body(staging.memory)
        try staging.copy.execute(on: engine)
        try engine.wait()
    }
}
