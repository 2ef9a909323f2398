import CDNNL

/// Channel concatenation [first, second] (the upsampled tensor first, then the skip connection)
/// in one buffer. The first part's producer is handed a view of the buffer to write into, so only
/// a producer that cannot write a strided view costs a copy; the second part (which max pooling
/// also reads, and pooling wants a dense input) is copied in. Backward, the first part's gradient
/// is the same view of the buffer's gradient, and the second's is copied out.
///
/// The buffer uses the skip connection's channel-blocked layout when both channel counts fill
/// whole blocks (views of a blocked layout must start on a block), else channel-last.
final class ConcatenationLayer: GraphLayer {
    /// The view of `output` that holds the first part.
    let firstView: Activation
    /// What produced the first part: `firstView` itself, or a separate tensor copied into it.
    let first: Activation
    let second: Activation
    let output: Activation
    private let secondView: MemoryDescriptor

    /// Lays out the buffer for `firstChannels` channels before `second`, copies `second` in, and
    /// calls `produceFirst` with the view for the first part. `produceFirst` returns the view
    /// when it wrote there, or a tensor of the view's shape to be copied in.
    init(graph: NetworkGraph, firstChannels: Int, second: Activation,
         produceFirst: (_ destination: Activation) throws -> Activation) throws {
        let channels = firstChannels + second.channels
        let dims = [second.batch, channels, second.height, second.width]
        let block = second.descriptor.innerBlock
        let tag: dnnl_format_tag_t
        if block == 8, firstChannels % 8 == 0, second.channels % 8 == 0 {
            tag = dnnl_nChw8c
        } else if block == 16, firstChannels % 16 == 0, second.channels % 16 == 0 {
            tag = dnnl_nChw16c
        } else {
            tag = dnnl_nhwc
        }
        let descriptor = try MemoryDescriptor(dims: dims, tag: tag)
        self.second = second
        output = try graph.activation(descriptor)
        firstView = try Activation(view: descriptor.submemory(dims: [second.batch, firstChannels, second.height, second.width],
                                                               offsets: [0, 0, 0, 0]),
                                   of: output, engine: graph.engine)
        secondView = try descriptor.submemory(dims: second.dims, offsets: [0, firstChannels, 0, 0])
        graph.append(try Self.copy(from: second.value, to: DNNLMemory(view: secondView, of: output.value, engine: graph.engine),
                                   graph: graph))
        first = try produceFirst(firstView)
        if first !== firstView {
            guard first.dims == firstView.dims else {
                throw UNetError("concatenation: the first part is \(first.dims), expected \(firstView.dims)")
            }
            graph.append(try Self.copy(from: first.value, to: firstView.value, graph: graph))
        }
        graph.add(self)
    }

    private static func copy(from source: DNNLMemory, to destination: DNNLMemory, graph: NetworkGraph) throws -> PrimitiveCall {
        let reorder = try PrimitiveDescriptor.reorder(from: source.descriptor, to: destination.descriptor, engine: graph.engine)
        return try PrimitiveCall(reorder, [(ExecutionArgument.source, source), (ExecutionArgument.destination, destination)])
    }

    func backwardSteps(in graph: NetworkGraph) throws -> [GraphStep] {
        var steps: [GraphStep] = []
        var copied = [(part: second, view: try DNNLMemory(view: secondView, of: graph.gradient(of: output), engine: graph.engine))]
        if first !== firstView { copied.append((first, try graph.gradient(of: firstView))) }
        for (part, view) in copied where part.needsGradient {
            let sink = try graph.gradientSink(for: part)
            steps.append(.primitive(try Self.copy(from: view, to: sink.memory, graph: graph)))
            steps += sink.then
        }
        return steps
    }
}
