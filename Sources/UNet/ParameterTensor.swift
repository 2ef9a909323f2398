import CDNNL

/// One named parameter of the network. Its master copy lives in the layout the first primitive
/// that uses it asked for, so the convolutions read it without a per-step reorder; the gradient
/// and the Adam moments share that layout, so the update is elementwise. Values cross the
/// module boundary in Keras's layout, converted by reorders.
final class ParameterTensor {
    let name: String
    let kerasShape: [Int]
    let trainable: Bool
    /// The Keras layout expressed as a oneDNN descriptor over the primitive's logical dims.
    let kerasDescriptor: MemoryDescriptor
    private let engine: DNNLEngine
    /// Keras-layout values held until a primitive fixes the master layout.
    private var pending: [Float]
    private var pendingMoments: (m: [Float], v: [Float])?
    private(set) var master: DNNLMemory?
    private(set) var gradient: DNNLMemory?
    private(set) var firstMoment: DNNLMemory?
    private(set) var secondMoment: DNNLMemory?
    /// Counts changes of the values, so that forms derived from them (Winograd's transformed
    /// kernels, a patch product's panels) are recomputed only when the parameter has changed.
    private(set) var version = 0
    /// The form of this kernel an inference layer multiplies by (Winograd's transformed kernels,
    /// or a patch product's panels), shared by the inference graphs of every batch shape, with
    /// the `version` it was computed from.
    var keptKernel: (memory: DNNLMemory, version: Int)?

    init(name: String, kerasShape: [Int], trainable: Bool, values: [Float], engine: DNNLEngine) throws {
        self.name = name
        self.kerasShape = kerasShape
        self.trainable = trainable
        self.engine = engine
        self.pending = values
        kerasDescriptor = try ParameterTensor.kerasLayout(name: name, shape: kerasShape)
    }

    /// Logical oneDNN dims and Keras strides: conv kernels (kh, kw, in, out) become weights
    /// (out, in, kh, kw); transposed-conv kernels (kh, kw, out, in) become the weights of the
    /// 1×1 convolution that computes them, (kh·kw·out, in, 1, 1), which is their row-major
    /// order; vectors stay vectors.
    private static func kerasLayout(name: String, shape: [Int]) throws -> MemoryDescriptor {
        switch shape.count {
        case 1:
            return try MemoryDescriptor(dims: shape, strides: [1])
        case 4 where name.hasSuffix(".up.kernel"):
            let (kh, kw, out, input) = (shape[0], shape[1], shape[2], shape[3])
            return try MemoryDescriptor(dims: [kh * kw * out, input, 1, 1], strides: [input, 1, 1, 1])
        case 4:
            let (kh, kw, input, out) = (shape[0], shape[1], shape[2], shape[3])
            return try MemoryDescriptor(dims: [out, input, kh, kw], strides: [1, out, kw * input * out, input * out])
        default:
            throw UNetError("parameter \(name) has unsupported shape \(shape)")
        }
    }

    var count: Int { kerasShape.reduce(1, *) }

    /// The master memory, created in `descriptor`'s layout on first use.
    func bind(_ descriptor: MemoryDescriptor) throws -> DNNLMemory {
        if let master { return master }
        let memory = try DNNLMemory(descriptor, engine: engine)
        try copy(pending, into: memory)
        master = memory
        pending = []
        return memory
    }

    /// The gradient, in the master's layout (bound to `descriptor` if it has none yet), allocated
    /// with the Adam moments when a training graph first asks for it: a model that only predicts
    /// never holds these three copies (372 MB for the reference network).
    func trainingGradient(binding descriptor: MemoryDescriptor) throws -> DNNLMemory {
        let master = try bind(descriptor)
        guard trainable else { throw UNetError("parameter \(name) is not trainable") }
        if let gradient { return gradient }
        let gradient = try DNNLMemory(master.descriptor, engine: engine)
        let first = try DNNLMemory(master.descriptor, engine: engine)
        let second = try DNNLMemory(master.descriptor, engine: engine)
        if let moments = pendingMoments {
            try copy(moments.m, into: first)
            try copy(moments.v, into: second)
            pendingMoments = nil
        }
        (self.gradient, firstMoment, secondMoment) = (gradient, first, second)
        return gradient
    }

    var values: [Float] {
        get throws {
            guard let master else { return pending }
            return try read(master)
        }
    }

    func setValues(_ values: [Float]) throws {
        if let master { try copy(values, into: master) } else { pending = values }
        markChanged()
    }

    /// Records that the master values were changed in place (by the optimizer).
    func markChanged() {
        version += 1
    }

    func gradientValues() throws -> [Float] {
        guard let gradient else { return [Float](repeating: 0, count: count) }
        return try read(gradient)
    }

    func moments() throws -> (m: [Float], v: [Float]) {
        (try moment(second: false), try moment(second: true))
    }

    /// Adam's first moment, or with `second` its second, in Keras's layout.
    func moment(second: Bool) throws -> [Float] {
        guard let memory = second ? secondMoment : firstMoment else {
            return (second ? pendingMoments?.v : pendingMoments?.m) ?? [Float](repeating: 0, count: count)
        }
        return try read(memory)
    }

    func setMoments(m: [Float], v: [Float]) throws {
        if let firstMoment, let secondMoment {
            try copy(m, into: firstMoment)
            try copy(v, into: secondMoment)
        } else {
            pendingMoments = (m, v)
        }
    }

    private func copy(_ values: [Float], into memory: DNNLMemory) throws {
        let staging = try DNNLMemory(kerasDescriptor, engine: engine)
        values.withUnsafeBufferPointer { source in
            _ = staging.floats.initialize(from: source)
        }
        try engine.reorder(staging, into: memory)
    }

    private func read(_ memory: DNNLMemory) throws -> [Float] {
        let staging = try DNNLMemory(kerasDescriptor, engine: engine)
        try engine.reorder(memory, into: staging)
        return Array(staging.floats)
    }
}

extension DNNLEngine {
    /// Converts one memory into another's layout now (for parameter exchange, not per step).
    func reorder(_ source: DNNLMemory, into destination: DNNLMemory) throws {
        try PrimitiveCall.reorder(from: source, to: destination, engine: self).execute(on: self)
        try wait()
    }
}
