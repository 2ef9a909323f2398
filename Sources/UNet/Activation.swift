/// One tensor flowing through a graph: its value in the layout oneDNN chose and, in training
/// graphs, its gradient in the same layout.
final class Activation {
    let value: DNNLMemory
    /// Logical shape in oneDNN order: N, C, H, W.
    let batch: Int, channels: Int, height: Int, width: Int
    /// False for the graph's input, whose gradient nobody needs.
    let needsGradient: Bool
    /// The activation whose memory this one is a view of (part of a concatenation's buffer, which
    /// its producer writes directly); its gradient is then the same view of the parent's gradient.
    let parent: Activation?
    var gradient: DNNLMemory?
    /// Set while building the backward pass once a consumer has written the gradient, so later
    /// consumers accumulate instead of overwriting.
    var gradientWritten = false

    init(value: DNNLMemory, needsGradient: Bool = true) {
        self.value = value
        let dims = value.descriptor.dims
        batch = dims[0]
        channels = dims[1]
        height = dims[2]
        width = dims[3]
        self.needsGradient = needsGradient
        parent = nil
    }

    /// The part of `parent` that `view` describes (a submemory of the parent's layout). oneDNN
    /// finds the part through the descriptor's offset; `value.data` is the parent's start, so
    /// host code must add that offset itself (the Winograd layers take no view as input, and
    /// write one through `WinogradOutputPlacement`).
    init(view: MemoryDescriptor, of parent: Activation, engine: DNNLEngine) throws {
        value = try DNNLMemory(view: view, of: parent.value, engine: engine)
        let dims = view.dims
        batch = dims[0]
        channels = dims[1]
        height = dims[2]
        width = dims[3]
        needsGradient = parent.needsGradient
        self.parent = parent
    }

    var descriptor: MemoryDescriptor { value.descriptor }
    var dims: [Int] { [batch, channels, height, width] }
}
