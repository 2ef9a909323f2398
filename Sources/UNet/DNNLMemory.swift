import CDNNL

/// A oneDNN memory object that owns its buffer (allocated by oneDNN, zero-filled, freed in deinit).
final class DNNLMemory {
    let handle: dnnl_memory_t
    let descriptor: MemoryDescriptor
    /// The start of the buffer; valid for the object's lifetime.
    let data: UnsafeMutableRawPointer
    let byteCount: Int

    init(_ descriptor: MemoryDescriptor, engine: DNNLEngine) throws {
        var raw = descriptor.raw
        var handle: dnnl_memory_t?
        try check(dnnl_memory_create(&handle, &raw, engine.engine, cdnnl_memory_allocate()), "memory_create \(descriptor.dims)")
        guard let handle else { throw UNetError("oneDNN memory_create returned no memory") }
        var pointer: UnsafeMutableRawPointer?
        let status = dnnl_memory_get_data_handle(handle, &pointer)
        guard status == dnnl_success, let pointer else {
            dnnl_memory_destroy(handle)
            throw UNetError("oneDNN memory_get_data_handle failed for \(descriptor.dims)")
        }
        self.handle = handle
        self.descriptor = descriptor
        self.data = pointer
        self.byteCount = descriptor.byteCount
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: byteCount)
    }

    /// A memory over another memory's buffer with a different descriptor (a view: a sub-tensor,
    /// or the same bytes read in another layout). The view keeps its parent alive.
    init(view descriptor: MemoryDescriptor, of parent: DNNLMemory, engine: DNNLEngine) throws {
        var raw = descriptor.raw
        var handle: dnnl_memory_t?
        try check(dnnl_memory_create(&handle, &raw, engine.engine, parent.data), "memory_create view \(descriptor.dims)")
        guard let handle else { throw UNetError("oneDNN memory_create returned no memory") }
        self.handle = handle
        self.descriptor = descriptor
        self.data = parent.data
        self.byteCount = descriptor.byteCount
        self.parent = parent
    }

    private var parent: DNNLMemory?

    /// The buffer as Float32 values (padding included); only for f32 memories.
    var floats: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: data.assumingMemoryBound(to: Float.self), count: byteCount / 4)
    }

    deinit {
        dnnl_memory_destroy(handle)
    }
}
