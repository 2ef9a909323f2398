import CDNNL

/// Primitives and memory for one network shape (batch, height, width) in one mode (training or
/// inference), created once and re-run for every batch of that shape.
final class NetworkGraph {
    let engine: DNNLEngine
    let training: Bool
    let precision: Precision
    let dropoutGenerator: DropoutGenerator
    private(set) var forwardSteps: [GraphStep] = []
    /// A training graph's forward pass in inference mode: the forward steps with batch
    /// normalisation on the stored statistics, no dropout and no loss (`runEvaluation`).
    private(set) var evaluationSteps: [GraphStep] = []
    private(set) var backwardSteps: [GraphStep] = []
    /// Per-graph copies of master weights stored in another layout (or type), each refreshed
    /// by a reorder when its parameter has changed since the copy was made.
    private var weightCopyRefreshes: [WeightCopyRefresh] = []
    private(set) var layers: [GraphLayer] = []
    private var weightCopies: [ObjectIdentifier: [DNNLMemory]] = [:]
    /// Scratch shared by the Winograd passes of this graph, which run one at a time.
    private(set) lazy var winogradWorkspace = WinogradWorkspace(engine: engine)
    /// Whether Winograd layers built from now on multiply by `PanelProduct` (where it is
    /// preferred) or by oneDNN's matmul; tests turn it off to run the other path on this CPU.
    var winogradPanelProducts = PanelProduct.preferred()
    /// Whether 3×3 convolutions built from now on write channel-blocked outputs (nChw16c, or
    /// nChw8c for channels that are not a multiple of 16) where oneDNN would choose channel-last.
    /// Winograd layers read only blocked inputs, and on AVX-512 oneDNN 2.6 prefers channel-last
    /// for inference, so without this no layer of the default model ran Winograd there (predict
    /// 18 tiles/s direct against 32 with Winograd on a Zen 4). bf16 convolutions, which read a
    /// bf16 copy of their input anyway, were 4 % faster too with blocked f32 activations between
    /// them (4 alternated rounds).
    var blockedConvolutionOutputs = false

    init(engine: DNNLEngine, training: Bool, precision: Precision = .f32, dropoutGenerator: DropoutGenerator) {
        self.engine = engine
        self.training = training
        self.precision = precision
        self.dropoutGenerator = dropoutGenerator
    }

    func append(_ step: GraphStep) {
        forwardSteps.append(step)
        evaluationSteps.append(step)
    }

    func append(_ call: PrimitiveCall) {
        append(.primitive(call))
    }

    /// Adds a step of the training-mode forward pass that an evaluation run replaces by
    /// `evaluation` (or leaves out, when nil).
    func append(training step: GraphStep, evaluation: GraphStep?) {
        forwardSteps.append(step)
        if let evaluation { evaluationSteps.append(evaluation) }
    }

    func add(_ layer: GraphLayer) {
        layers.append(layer)
    }

    func activation(_ descriptor: MemoryDescriptor, needsGradient: Bool = true) throws -> Activation {
        try Activation(value: DNNLMemory(descriptor, engine: engine), needsGradient: needsGradient)
    }

    /// A copy of `input` in the source layout and data type `forward` reads (a bf16 copy for a
    /// bf16 convolution), refreshed by a reorder added to the forward pass here.
    func sourceCopy(of input: Activation, for forward: PrimitiveDescriptor) throws -> DNNLMemory {
        let copy = try DNNLMemory(forward.memory(dnnl_query_src_md), engine: engine)
        append(try PrimitiveCall.reorder(from: input.value, to: copy, engine: engine))
        return copy
    }

        /// Builds the backward pass from the layers added so far; call once, after the forward pass.
    func buildBackward() throws {
        for layer in layers.reversed() {
            backwardSteps += try layer.backwardSteps(in: self)
        }
    }

    /// The gradient memory of an activation, allocated on first use in the value's layout (for a
    /// view, the same view of its parent's gradient).
    func gradient(of activation: Activation) throws -> DNNLMemory {
        if let gradient = activation.gradient { return gradient }
        let gradient = if let parent = activation.parent {
            try DNNLMemory(view: activation.descriptor, of: self.gradient(of: parent), engine: engine)
        } else {
            try DNNLMemory(activation.descriptor, engine: engine)
        }
        activation.gradient = gradient
        return gradient
    }

    /// Where a layer should write the gradient it sends to `activation`: the gradient itself for
    /// the first writer, or a scratch memory plus a step that adds it in, for later writers.
    func gradientSink(for activation: Activation) throws -> (memory: DNNLMemory, then: [GraphStep]) {
        let gradient = try gradient(of: activation)
        if !activation.gradientWritten {
            activation.gradientWritten = true
            return (gradient, [])
        }
        let scratch = try DNNLMemory(activation.descriptor, engine: engine)
        let add = try PrimitiveDescriptor.reorder(from: scratch.descriptor, to: gradient.descriptor, accumulate: true, engine: engine)
        let call = try PrimitiveCall(add, [(ExecutionArgument.source, scratch), (ExecutionArgument.destination, gradient)])
        return (scratch, [.primitive(call)])
    }

    /// A parameter as a primitive wants it: the master memory when the layouts agree (the
    /// first primitive fixes the master layout), else a copy refreshed at the start of each run.
    func weights(_ parameter: ParameterTensor, as descriptor: MemoryDescriptor) throws -> DNNLMemory {
        let master = try parameter.bind(descriptor.with(type: dnnl_f32))
        if master.descriptor.sameLayout(as: descriptor) { return master }
        let key = ObjectIdentifier(parameter)
        if let copy = weightCopies[key]?.first(where: { $0.descriptor.sameLayout(as: descriptor) }) { return copy }
        let copy = try DNNLMemory(descriptor, engine: engine)
        weightCopyRefreshes.append(WeightCopyRefresh(parameter: parameter,
                                                     reorder: try PrimitiveCall.reorder(from: master, to: copy, engine: engine)))
        weightCopies[key, default: []].append(copy)
        return copy
    }

    /// Where a primitive should write a parameter's gradient given the layout it produces.
    func weightGradient(_ parameter: ParameterTensor, as descriptor: MemoryDescriptor) throws -> (memory: DNNLMemory, then: [GraphStep]) {
        let gradient = try parameter.trainingGradient(binding: descriptor)
        if gradient.descriptor.sameLayout(as: descriptor) { return (gradient, []) }
        let scratch = try DNNLMemory(descriptor, engine: engine)
        return (scratch, [.primitive(try PrimitiveCall.reorder(from: scratch, to: gradient, engine: engine))])
    }

    func runForward() throws {
        try refreshWeightCopies()
        try run(forwardSteps)
    }

    /// Runs a training graph's forward pass as an inference graph would: the same outputs up to
    /// rounding, in the training graph's memory. Moving statistics and the dropout generator stay
    /// as they were, and the activations kept for the backward pass are overwritten.
    func runEvaluation() throws {
        try refreshWeightCopies()
        try run(evaluationSteps)
    }

    func runBackward() throws {
        try run(backwardSteps)
    }

    /// Predicting, weights do not change between batches, and copying them every batch cost
    /// 14 reorders per step on AVX-512, where oneDNN's direct convolutions want their own layouts.
    private func refreshWeightCopies() throws {
        for refresh in weightCopyRefreshes where refresh.version != refresh.parameter.version {
            try refresh.reorder.execute(on: engine)
            refresh.version = refresh.parameter.version
        }
    }

    private func run(_ steps: [GraphStep]) throws {
        for step in steps {
            switch step {
            case .primitive(let call):
                try call.execute(on: engine)
            case .host(let work):
                try engine.wait()
                try work()
            }
        }
        try engine.wait()
    }
}

/// A copy of a parameter in another layout and the version of the values it holds.
private final class WeightCopyRefresh {
    let parameter: ParameterTensor
    let reorder: PrimitiveCall
    var version: Int?

    init(parameter: ParameterTensor, reorder: PrimitiveCall) {
        self.parameter = parameter
        self.reorder = reorder
    }
}
