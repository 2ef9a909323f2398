/// One thing a graph does when it runs: a oneDNN primitive, or a little host-side work
/// (the loss, dropout masks, moving averages) that runs once the stream has caught up.
enum GraphStep {
    case primitive(PrimitiveCall)
    case host(() throws -> Void)
}

/// A layer of a graph. Its forward steps are recorded when it is added; its backward steps are
/// built afterwards, in reverse order of the layers, so that gradient accumulation knows which
/// consumer of a tensor writes first.
protocol GraphLayer: AnyObject {
    func backwardSteps(in graph: NetworkGraph) throws -> [GraphStep]
}
