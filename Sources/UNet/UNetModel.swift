import Foundation

/// The U-Net of UNET.md on oneDNN: Keras-initialised, seeded parameters; inference and training
/// forward passes; a training step (weighted binary cross-entropy, backward, Adam); and parameter,
/// gradient and optimizer-state exchange in Keras's layouts.
///
/// Primitives and buffers are built once per (batch, height, width, mode) and reused.
public final class UNetModel {
    public let config: UNetConfig
    public let precision: Precision
    /// How the graphs compute 3×3 convolutions (inference and training alike); changing it
    /// rebuilds them on next use.
    public var convolutionAlgorithm: ConvolutionAlgorithm {
        didSet {
            guard convolutionAlgorithm != oldValue else { return }
            graphs.removeAll()
            graphUse.removeAll()
        }
    }
    private let engine: DNNLEngine
    private let generator: DropoutGenerator
    private let parameterList: [ParameterTensor]
    private let parameterByName: [String: ParameterTensor]
    private var optimizer = AdamOptimizer()
    private var graphs: [GraphKey: UNetGraph] = [:]
    private var graphUse: [GraphKey] = []
    private static let maximumCachedGraphs = 4

    private struct GraphKey: Hashable {
        let batch: Int, height: Int, width: Int, training: Bool
    }

    /// Builds the network with Keras's initialisation: glorot-uniform kernels drawn from `seed`,
    /// zero biases, batch normalisation with gamma 1, beta 0, mean 0, variance 1. With a batch
    /// size, the training graph for tiles of that batch is built now rather than on first use.
    /// Refuses an OpenMP thread count (`OMP_NUM_THREADS`) that libgomp would crash on. Building
    /// a model checks it too; call this first where long work comes before that.
    public static func checkThreadSettings() throws {
        try OpenMPLoop.checkTeamSize()
    }

    public init(config: UNetConfig, seed: UInt64 = 0, precision: Precision = .f32,
                convolutionAlgorithm: ConvolutionAlgorithm = .winograd, batchSize: Int? = nil) throws {
        let problems = config.problems
        guard problems.isEmpty else { throw UNetError("invalid U-Net configuration: \(problems.joined(separator: "; "))") }
        self.config = config
        self.precision = precision
        self.convolutionAlgorithm = convolutionAlgorithm
        engine = try DNNLEngine()
        generator = DropoutGenerator(state: seed ^ 0xD1B5_4A32_D192_ED03)
        let initializer = DropoutGenerator(state: seed)
        var list: [ParameterTensor] = []
        for (name, shape) in config.parameterShapes {
            let count = shape.reduce(1, *)
            let values: [Float]
            if name.hasSuffix(".kernel") {
                let receptive = shape[0] * shape[1]
                let limit = (6.0 / Double(receptive * (shape[2] + shape[3]))).squareRoot()
                values = (0..<count).map { _ in
                    let unit = Double(initializer.next() >> 11) / Double(1 << 53)
                    return Float((2 * unit - 1) * limit)
                }
            } else if name.hasSuffix(".gamma") || name.hasSuffix(".moving_variance") {
                values = [Float](repeating: 1, count: count)
            } else {
                values = [Float](repeating: 0, count: count)
            }
            let trainable = !name.hasSuffix(".moving_mean") && !name.hasSuffix(".moving_variance")
            list.append(try ParameterTensor(name: name, kerasShape: shape, trainable: trainable, values: values, engine: engine))
        }
        parameterList = list
        parameterByName = Dictionary(uniqueKeysWithValues: list.map { ($0.name, $0) })
        if let batchSize {
            guard batchSize >= 1 else { throw UNetError("batch size must be at least 1 (got \(batchSize))") }
            _ = try graph(batch: batchSize, height: config.tileSize, width: config.tileSize, training: true)
        }
    }

    public var learningRate: Float {
        get { optimizer.learningRate }
        set { optimizer.learningRate = newValue }
    }

    /// Adam steps taken so far.
    public var adamStep: Int { optimizer.step }

    /// The dropout generator's whole state, so that a resumed run draws the same masks.
    public var dropoutGeneratorState: UInt64 {
        get { generator.state }
        set { generator.state = newValue }
    }

    /// Sigmoid probabilities NHWC [N, H, W, nClasses] for an NHWC input [N, H, W, nChannels] whose
    /// sides are multiples of 2^depth. `training` uses batch statistics (and updates the moving
    /// ones) and dropout, as Keras's `model(x, training=True)` does.
    public func forward(_ input: HostTensor, training: Bool = false) throws -> HostTensor {
        let (batch, height, width) = try checkInput(input)
        let unet = try graph(batch: batch, height: height, width: width, training: training)
        unet.loss.targets = []
        unet.loss.ignore = nil
        try load(input, into: unet)
        try unet.graph.runForward()
        return probabilities(of: unet, batch: batch, height: height, width: width)
    }

    /// The probabilities of `forward(_:training: false)` (stored statistics, no dropout), computed
    /// by a training graph run in inference mode rather than by an inference graph of their own,
    /// so that a trainer's validation keeps one graph's memory instead of two (for the reference
    /// network at batch 8, about 0.8 GiB less). The batch is padded with zero tiles up to the
    /// smallest training graph already built for its tile shape that holds it. The results agree
    /// with `forward`'s up to rounding; training continues as if this call had not happened.
    public func validationForward(_ input: HostTensor) throws -> HostTensor {
        let (batch, height, width) = try checkInput(input)
        let built = graphs.keys.filter { $0.training && $0.height == height && $0.width == width && $0.batch >= batch }
        let unet = try graph(batch: built.map(\.batch).min() ?? batch, height: height, width: width, training: true)
        try load(input, into: unet)
        try unet.graph.runEvaluation()
        return probabilities(of: unet, batch: batch, height: height, width: width)
    }

    /// The sigmoid of the first `batch` tiles' logits after a forward run.
    private func probabilities(of unet: UNetGraph, batch: Int, height: Int, width: Int) -> HostTensor {
        let logits = unet.loss.hostLogits.floats
        var probabilities = [Float](repeating: 0, count: batch * height * width * config.nClasses)
        probabilities.withUnsafeMutableBufferPointer { output in
            for i in 0..<output.count { output[i] = 1 / (1 + exp(-logits[i])) }
        }
        return HostTensor(shape: [batch, height, width, config.nClasses], values: probabilities)
    }

    /// One training step on a batch: forward in training mode, the weighted binary cross-entropy
    /// from logits, backward and an Adam update. Targets are NHWC [N, H, W, nClasses] in {0, 1};
    /// pixels where `ignoreMask` [N, H, W] is 1 add nothing to the loss or the gradient, and the
    /// mean runs over the others. Returns the loss before the update.
    public func trainStep(input: HostTensor, targets: HostTensor, ignoreMask: HostTensor? = nil) throws -> Float {
        let (batch, height, width) = try checkInput(input)
        guard targets.shape == [batch, height, width, config.nClasses] else {
            throw UNetError("targets have shape \(targets.shape), expected \([batch, height, width, config.nClasses])")
        }
        if let ignoreMask, ignoreMask.shape != [batch, height, width] {
            throw UNetError("ignore mask has shape \(ignoreMask.shape), expected \([batch, height, width])")
        }
        let unet = try graph(batch: batch, height: height, width: width, training: true)
        unet.loss.targets = targets.values
        unet.loss.ignore = ignoreMask?.values
        try load(input, into: unet)
        try unet.graph.runForward()
        try unet.graph.runBackward()
        optimizer.update(parameterList)
        return unet.loss.loss
    }

    /// The parameter tensor of that name in `config.parameterShapes`.
    func parameter(named name: String) -> ParameterTensor? {
        parameterByName[name]
    }

    /// Every tensor of `config.parameterShapes`, in Keras's layouts.
    public func parameters() -> [String: HostTensor] {
        var result: [String: HostTensor] = [:]
        for parameter in parameterList {
            let values = (try? parameter.values) ?? [Float](repeating: .nan, count: parameter.count)
            result[parameter.name] = HostTensor(shape: parameter.kerasShape, values: values)
        }
        return result
    }

    /// Replaces every parameter. Each tensor of `config.parameterShapes` must be present with its
    /// exact shape (the error names the first that is not); other names are ignored.
    public func setParameters(_ values: [String: HostTensor]) throws {
        try checkComplete(values, names: parameterList, what: "parameter")
        for parameter in parameterList {
            if let tensor = values[parameter.name] { try parameter.setValues(tensor.values) }
        }
    }

    /// Gradients of the last training step for the trainable tensors, in Keras's layouts.
    public func gradients() -> [String: HostTensor] {
        var result: [String: HostTensor] = [:]
        for parameter in parameterList where parameter.trainable {
            let values = (try? parameter.gradientValues()) ?? [Float](repeating: .nan, count: parameter.count)
            result[parameter.name] = HostTensor(shape: parameter.kerasShape, values: values)
        }
        return result
    }

    /// Adam's step count and moments for the trainable tensors (named as the parameters).
    public func optimizerState() -> (step: Int, m: [String: HostTensor], v: [String: HostTensor]) {
        var m: [String: HostTensor] = [:]
        var v: [String: HostTensor] = [:]
        for parameter in parameterList where parameter.trainable {
            let zero = [Float](repeating: .nan, count: parameter.count)
            let moments = (try? parameter.moments()) ?? (m: zero, v: zero)
            m[parameter.name] = HostTensor(shape: parameter.kerasShape, values: moments.m)
            v[parameter.name] = HostTensor(shape: parameter.kerasShape, values: moments.v)
        }
        return (optimizer.step, m, v)
    }

    public func setOptimizerState(step: Int, m: [String: HostTensor], v: [String: HostTensor]) throws {
        guard step >= 0 else { throw UNetError("optimizer step must not be negative (got \(step))") }
        let trainable = parameterList.filter(\.trainable)
        try checkComplete(m, names: trainable, what: "optimizer first moment")
        try checkComplete(v, names: trainable, what: "optimizer second moment")
        for parameter in trainable {
            if let first = m[parameter.name], let second = v[parameter.name] {
                try parameter.setMoments(m: first.values, v: second.values)
            }
        }
        optimizer.step = step
    }

    private func checkComplete(_ values: [String: HostTensor], names: [ParameterTensor], what: String) throws {
        for parameter in names {
            guard let tensor = values[parameter.name] else { throw UNetError("missing \(what) \(parameter.name)") }
            guard tensor.shape == parameter.kerasShape else {
                throw UNetError("\(what) \(parameter.name) has shape \(tensor.shape), expected \(parameter.kerasShape)")
            }
        }
    }

    private func checkInput(_ input: HostTensor) throws -> (Int, Int, Int) {
        let multiple = 1 << config.depth
        guard input.shape.count == 4, input.shape[0] >= 1, input.shape[3] == config.nChannels,
              input.shape[1] >= multiple, input.shape[2] >= multiple,
              input.shape[1] % multiple == 0, input.shape[2] % multiple == 0 else {
            throw UNetError("input has shape \(input.shape), expected [N, H, W, \(config.nChannels)] with H and W positive multiples of \(multiple)")
        }
        return (input.shape[0], input.shape[1], input.shape[2])
    }

    /// Copies the input into the graph's, whose batch may be larger: the tiles beyond it are zeros.
    private func load(_ input: HostTensor, into unet: UNetGraph) throws {
        let destination = unet.hostInput.floats
        guard destination.count >= input.count else { throw UNetError("input has \(input.count) values, expected \(destination.count)") }
        input.values.withUnsafeBufferPointer { _ = destination.initialize(from: $0) }
        UnsafeMutableBufferPointer(rebasing: destination[input.count...]).update(repeating: 0)
    }

    /// The graph for a batch shape, built on first use and cached (the least recently used goes).
    func graph(batch: Int, height: Int, width: Int, training: Bool) throws -> UNetGraph {
        let key = GraphKey(batch: batch, height: height, width: width, training: training)
        graphUse.removeAll { $0 == key }
        graphUse.append(key)
        if let cached = graphs[key] { return cached }
        if graphs.count >= Self.maximumCachedGraphs, let oldest = graphUse.first {
            graphUse.removeFirst()
            graphs[oldest] = nil
        }
        func build(_ precision: Precision) throws -> UNetGraph {
            try UNetGraph(config: config, parameters: parameterByName, batch: batch, height: height, width: width,
                          training: training, precision: precision, convolutionAlgorithm: convolutionAlgorithm,
                          engine: engine, dropoutGenerator: generator)
        }
        var built = try build(precision)
        // oneDNN 2.6 has fewer bf16 kernels than f32 ones: training with 8 or 24 filters in bf16
        // left layers in its reference code on a Zen 4 (1.4 tiles/s against 87 in f32). Such a
        // graph computes in f32 instead.
        if precision == .bf16, engine.computesBF16Natively, !built.referencePrimitives.isEmpty {
            let f32 = try build(.f32)
            if f32.referencePrimitives.count < built.referencePrimitives.count { built = f32 }
        }
        graphs[key] = built
        return built
    }
}
