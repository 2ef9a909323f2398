import CDNNL

/// Channel concatenation [first, second] (the upsampled tensor first, then the skip connection).
/// Both parts are copied into views of one buffer; backward copies the views back out. The
/// buffer uses the inputs' channel-blocked layout when both channel counts fill whole blocks
/// (views of a blocked layout must start on a block), else channel-last.
final class ConcatenationLayer: GraphLayer {
    let first: Activation
    let second: Activation
    let output: Activation
    private let firstView: MemoryDescriptor
    private let secondView: MemoryDescriptor

    init(graph: NetworkGraph, first: Activation, second: Activation) throws {
        let channels = first.channels + second.channels
        let dims = [first.batch, channels, first.height, first.width]
        let block = first.descriptor.innerBlock
        let tag: dnnl_format_tag_t
        if block == 8, first.channels % 8 == 0, second.channels % 8 == 0 {
            tag = dnnl_nChw8c
        } else if block == 16, first.channels % 16 == 0, second.channels % 16 == 0 {
            tag = dnnl_nChw16c
        } else {
            tag = dnnl_nhwc
        }
        let descriptor = try MemoryDescriptor(dims: dims, tag: tag)
        self.first = first
        self.second = second
        output = try graph.activation(descriptor)
        firstView = try descriptor.submemory(dims: first.dims, offsets: [0, 0, 0, 0])
        secondView = try descriptor.submemory(dims: second.dims, offsets: [0, first.channels, 0, 0])
        for (part, view) in [(first, firstView), (second, secondView)] {
            let target = try DNNLMemory(view: view, of: output.value, engine: graph.engine)
            let copy = try PrimitiveDescriptor.reorder(from: part.descriptor, to: view, engine: graph.engine)
            graph.append(try PrimitiveCall(copy, [(ExecutionArgument.source, part.value), (ExecutionArgument.destination, target)]))
        }
        graph.add(self)
    }

    func backwardSteps(in graph: NetworkGraph) throws -> [GraphStep] {
        let gradient = try graph.gradient(of: output)
        var steps: [GraphStep] = []
        for (part, view) in [(first, firstView), (second, secondView)] where part.needsGradient {
            let source = try DNNLMemory(view: view, of: gradient, engine: graph.engine)
            let sink = try graph.gradientSink(for: part)
            let copy = try PrimitiveDescriptor.reorder(from: view, to: part.descriptor, engine: graph.engine)
            steps.append(.primitive(try PrimitiveCall(copy, [(ExecutionArgument.source, source), (ExecutionArgument.destination, sink.memory)])))
            steps += sink.then
        }
        return steps
    }
}
