/// One tensor flowing through a graph: its value in the layout oneDNN chose and, in training
/// graphs, its gradient in the same layout.
final class Activation {
    let value: DNNLMemory
    /// Logical shape in oneDNN order: N, C, H, W.
    let batch: Int, channels: Int, height: Int, width: Int
    /// False for the graph's input, whose gradient nobody needs.
    let needsGradient: Bool
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
    }

    var descriptor: MemoryDescriptor { value.descriptor }
    var dims: [Int] { [batch, channels, height, width] }
}
