import CDNNL

/// A oneDNN primitive descriptor: the chosen implementation and the layouts it wants.
final class PrimitiveDescriptor {
    let handle: dnnl_primitive_desc_t

    init(handle: dnnl_primitive_desc_t) {
        self.handle = handle
    }

    /// Creates the descriptor of an operation from its initialised oneDNN op descriptor.
    convenience init<OpDescriptor>(
        operation: OpDescriptor, attributes: PrimitiveAttributes? = nil, hint: PrimitiveDescriptor? = nil,
        engine: DNNLEngine, what: @autoclosure () -> String
    ) throws {
        var operation = operation
        var handle: dnnl_primitive_desc_t?
        let status = withUnsafePointer(to: &operation) { pointer in
            dnnl_primitive_desc_create(&handle, UnsafeRawPointer(pointer), attributes?.handle, engine.engine, hint?.handle)
        }
        try check(status, what())
        guard let handle else { throw UNetError("oneDNN \(what()) returned no primitive descriptor") }
        self.init(handle: handle)
    }

    /// A reorder between two layouts, optionally accumulating into the destination.
    static func reorder(from source: MemoryDescriptor, to destination: MemoryDescriptor, accumulate: Bool = false,
                        engine: DNNLEngine) throws -> PrimitiveDescriptor {
        var src = source.raw
        var dst = destination.raw
        let attributes = accumulate ? try PrimitiveAttributes(sum: true) : nil
        var handle: dnnl_primitive_desc_t?
        try check(dnnl_reorder_primitive_desc_create(&handle, &src, engine.engine, &dst, engine.engine, attributes?.handle),
                  "reorder \(source.dims)")
        guard let handle else { throw UNetError("oneDNN reorder returned no primitive descriptor") }
        return PrimitiveDescriptor(handle: handle)
    }

    func memory(_ what: dnnl_query_t, _ index: Int32 = 0) -> MemoryDescriptor {
        guard let raw = dnnl_primitive_desc_query_md(handle, what, index) else {
            return MemoryDescriptor(raw: dnnl_memory_desc_t())
        }
        return MemoryDescriptor(raw: raw.pointee)
    }

    /// Whether the primitive may compute in bfloat16 (its attributes' fpmath mode is bf16).
    var allowsBF16: Bool {
        var attributes: const_dnnl_primitive_attr_t?
        var mode = dnnl_fpmath_mode_strict
        guard dnnl_primitive_desc_get_attr(handle, &attributes) == dnnl_success, let attributes,
              dnnl_primitive_attr_get_fpmath_mode(attributes, &mode) == dnnl_success else { return false }
        return mode == dnnl_fpmath_mode_bf16
    }

    /// The implementation oneDNN picked (e.g. "jit:avx2"), for diagnostics.
    var implementation: String {
        var name: UnsafePointer<CChar>?
        guard dnnl_primitive_desc_query(handle, dnnl_query_impl_info_str, 0, &name) == dnnl_success, let name else { return "?" }
        return String(cString: name)
    }

    deinit {
        dnnl_primitive_desc_destroy(handle)
    }
}

/// Primitive attributes: fused post-operations.
final class PrimitiveAttributes {
    let handle: dnnl_primitive_attr_t

    /// `relu` fuses a ReLU after the operation; `sum` accumulates into the destination;
    /// `.bf16` lets the primitive compute in bfloat16 on f32 tensors where the CPU supports it.
    init(relu: Bool = false, sum: Bool = false, precision: Precision = .f32) throws {
        var attr: dnnl_primitive_attr_t?
        try check(dnnl_primitive_attr_create(&attr), "primitive_attr_create")
        guard let attr else { throw UNetError("oneDNN primitive_attr_create returned nothing") }
        handle = attr
        var ops: dnnl_post_ops_t?
        try check(dnnl_post_ops_create(&ops), "post_ops_create")
        guard let ops else { throw UNetError("oneDNN post_ops_create returned nothing") }
        defer { dnnl_post_ops_destroy(ops) }
        if sum { try check(dnnl_post_ops_append_sum(ops, 1), "post_ops_append_sum") }
        if relu { try check(dnnl_post_ops_append_eltwise(ops, 1, dnnl_eltwise_relu, 0, 0), "post_ops_append_eltwise") }
        try check(dnnl_primitive_attr_set_post_ops(handle, ops), "primitive_attr_set_post_ops")
        if precision == .bf16 {
            try check(dnnl_primitive_attr_set_fpmath_mode(handle, dnnl_fpmath_mode_bf16), "primitive_attr_set_fpmath_mode")
        }
    }

    deinit {
        dnnl_primitive_attr_destroy(handle)
    }
}

/// An executable primitive bound to its arguments. The memories are retained so the raw
/// handles in `arguments` stay valid.
final class PrimitiveCall {
    let primitive: dnnl_primitive_t
    let descriptor: PrimitiveDescriptor
    private var arguments: [dnnl_exec_arg_t]
    private let memories: [DNNLMemory]

    init(_ descriptor: PrimitiveDescriptor, _ bindings: [(Int32, DNNLMemory)]) throws {
        var primitive: dnnl_primitive_t?
        try check(dnnl_primitive_create(&primitive, descriptor.handle), "primitive_create \(descriptor.implementation)")
        guard let primitive else { throw UNetError("oneDNN primitive_create returned nothing") }
        self.primitive = primitive
        self.descriptor = descriptor
        self.arguments = bindings.map { dnnl_exec_arg_t(arg: $0.0, memory: $0.1.handle) }
        self.memories = bindings.map(\.1)
    }

    /// A copy of `source` into `destination`, converting between their layouts.
    static func reorder(from source: DNNLMemory, to destination: DNNLMemory, engine: DNNLEngine) throws -> PrimitiveCall {
        let descriptor = try PrimitiveDescriptor.reorder(from: source.descriptor, to: destination.descriptor, engine: engine)
        return try PrimitiveCall(descriptor, [(ExecutionArgument.source, source), (ExecutionArgument.destination, destination)])
    }

    func execute(on engine: DNNLEngine) throws {
        let status = arguments.withUnsafeBufferPointer {
            dnnl_primitive_execute(primitive, engine.stream, Int32($0.count), $0.baseAddress)
        }
        if status != dnnl_success {
            let inputs = dnnl_primitive_desc_query_s32(descriptor.handle, dnnl_query_num_of_inputs_s32, 0)
            let outputs = dnnl_primitive_desc_query_s32(descriptor.handle, dnnl_query_num_of_outputs_s32, 0)
            try check(status, "execute \(descriptor.implementation) (expects \(inputs) inputs, \(outputs) outputs; given \(arguments.map(\.arg)))")
        }
    }

    deinit {
        dnnl_primitive_destroy(primitive)
    }
}
