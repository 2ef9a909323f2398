import CDNNL

/// Channel concatenation [first, second] (the upsampled tensor first, then the skip connection)
/// in one buffer. The first part's producer is handed a view of the buffer to write into, so only
/// a producer that cannot write a strided view costs a copy. The second part is copied in, unless
/// its producer already wrote it into a view of a buffer laid out by `layout` (prediction's
/// Winograd layers do, and pool on the way; training's max pooling needs a dense input).
/// Backward, a part written in place has the same view of the buffer's gradient for its
/// gradient, and a copied part's gradient is copied out.
final class ConcatenationLayer: GraphLayer {
    /// The view of `output` that holds the first part.
    let firstView: Activation
    /// What produced the first part: `firstView` itself, or a separate tensor copied into it.
    let first: Activation
    let second: Activation
    let output: Activation
    /// Where `second` is copied to, or nil when it was written in place.
    private let secondView: MemoryDescriptor?

    /// The buffer's layout for `firstChannels` channels before a second part of `secondDims` in
    /// channel blocks of `secondBlock`: that blocking when both channel counts fill whole blocks
    /// (views of a blocked layout must start on a block), else channel-last.
    static func layout(firstChannels: Int, secondDims: [Int], secondBlock: Int) throws -> MemoryDescriptor {
        let secondChannels = secondDims[1]
        let tag = if [8, 16].contains(secondBlock), firstChannels % secondBlock == 0, secondChannels % secondBlock == 0 {
            secondBlock == 8 ? dnnl_nChw8c : dnnl_nChw16c
        } else {
            dnnl_nhwc
        }
        return try MemoryDescriptor(dims: [secondDims[0], firstChannels + secondChannels, secondDims[2], secondDims[3]], tag: tag)
    }

    /// Uses `second`'s buffer when `second` is the view after `firstChannels` channels of one,
    /// else lays out a buffer and copies `second` in; then calls `produceFirst` with the view for
    /// the first part. `produceFirst` returns the view when it wrote there, or a tensor of the
    /// view's shape to be copied in.
    init(graph: NetworkGraph, firstChannels: Int, second: Activation,
         produceFirst: (_ destination: Activation) throws -> Activation) throws {
        self.second = second
        if let buffer = second.parent, buffer.channels == firstChannels + second.channels,
           second.descriptor.sameLayout(as: try buffer.descriptor.submemory(dims: second.dims, offsets: [0, firstChannels, 0, 0])) {
            output = buffer
            secondView = nil
        } else {
            let descriptor = try Self.layout(firstChannels: firstChannels, secondDims: second.dims, secondBlock: second.descriptor.innerBlock)
            let view = try descriptor.submemory(dims: second.dims, offsets: [0, firstChannels, 0, 0])
            output = try graph.activation(descriptor)
            secondView = view
            let destination = try DNNLMemory(view: view, of: output.value, engine: graph.engine)
            graph.append(try PrimitiveCall.reorder(from: second.value, to: destination, engine: graph.engine))
        }
        firstView = try Activation(view: output.descriptor.submemory(dims: [second.batch, firstChannels, second.height, second.width],
                                                                      offsets: [0, 0, 0, 0]),
                                   of: output, engine: graph.engine)
        first = try produceFirst(firstView)
        if first !== firstView {
            guard first.dims == firstView.dims else {
                throw UNetError("concatenation: the first part is \(first.dims), expected \(firstView.dims)")
            }
            graph.append(try PrimitiveCall.reorder(from: first.value, to: firstView.value, engine: graph.engine))
        }
        graph.add(self)
    }

    func backwardSteps(in graph: NetworkGraph) throws -> [GraphStep] {
        var steps: [GraphStep] = []
        // A part written in place already has its share of the buffer's gradient as its
        // gradient; later writers (the skip connection's max pooling) must add to it.
        if secondView == nil { second.gradientWritten = true }
        var copied: [(part: Activation, view: DNNLMemory)] = []
        if let secondView { copied.append((second, try DNNLMemory(view: secondView, of: graph.gradient(of: output), engine: graph.engine))) }
        if first !== firstView { copied.append((first, try graph.gradient(of: firstView))) }
        for (part, view) in copied where part.needsGradient {
            let sink = try graph.gradientSink(for: part)
            steps.append(.primitive(try PrimitiveCall.reorder(from: view, to: sink.memory, engine: graph.engine)))
            steps += sink.then
        }
        return steps
    }
}
