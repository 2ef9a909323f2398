import CDNNL

/// A oneDNN memory descriptor (shape, data type, layout) as a value.
struct MemoryDescriptor {
    var raw: dnnl_memory_desc_t

    init(raw: dnnl_memory_desc_t) {
        self.raw = raw
    }

    /// A descriptor with logical dims (oneDNN order, e.g. N, C, H, W) and a format tag, which may be
    /// `dnnl_format_tag_any` to let a primitive choose.
    init(dims: [Int], type: dnnl_data_type_t = dnnl_f32, tag: dnnl_format_tag_t) throws {
        var raw = dnnl_memory_desc_t()
        let dims64 = dims.map(Int64.init)
        try check(dnnl_memory_desc_init_by_tag(&raw, Int32(dims.count), dims64, type, tag), "memory_desc_init_by_tag \(dims)")
        self.raw = raw
    }

    /// A plain descriptor with explicit strides in elements.
    init(dims: [Int], strides: [Int], type: dnnl_data_type_t = dnnl_f32) throws {
        var raw = dnnl_memory_desc_t()
        try check(dnnl_memory_desc_init_by_strides(&raw, Int32(dims.count), dims.map(Int64.init), type, strides.map(Int64.init)),
                  "memory_desc_init_by_strides \(dims)")
        self.raw = raw
    }

    /// A view of part of this descriptor's memory (same layout, offset in every dimension).
    func submemory(dims: [Int], offsets: [Int]) throws -> MemoryDescriptor {
        var parent = raw
        var sub = dnnl_memory_desc_t()
        try check(dnnl_memory_desc_init_submemory(&sub, &parent, dims.map(Int64.init), offsets.map(Int64.init)),
                  "memory_desc_init_submemory \(dims) at \(offsets)")
        return MemoryDescriptor(raw: sub)
    }

    /// The same logical tensor with another data type, keeping the layout.
    func with(type: dnnl_data_type_t) -> MemoryDescriptor {
        var copy = raw
        copy.data_type = type
        return MemoryDescriptor(raw: copy)
    }

    /// A plain NCHW descriptor for a 4-D tensor, channel-last in memory (NHWC).
    static func nhwc(_ n: Int, _ c: Int, _ h: Int, _ w: Int, type: dnnl_data_type_t = dnnl_f32) throws -> MemoryDescriptor {
        try MemoryDescriptor(dims: [n, c, h, w], type: type, tag: dnnl_nhwc)
    }

    static func any(_ dims: [Int], type: dnnl_data_type_t = dnnl_f32) throws -> MemoryDescriptor {
        try MemoryDescriptor(dims: dims, type: type, tag: dnnl_format_tag_any)
    }

    var dims: [Int] {
        withUnsafeBytes(of: raw.dims) { Array($0.bindMemory(to: Int64.self).prefix(Int(raw.ndims))).map(Int.init) }
    }

    var type: dnnl_data_type_t { raw.data_type }

    /// Bytes the memory needs, padding included.
    var byteCount: Int {
        var copy = raw
        return dnnl_memory_desc_get_size(&copy)
    }

    /// The innermost channel block (e.g. 8 for nChw8c), 1 for a plain layout.
    var innerBlock: Int {
        guard raw.format_kind == dnnl_blocked, raw.format_desc.blocking.inner_nblks > 0 else { return 1 }
        return Int(raw.format_desc.blocking.inner_blks.0)
    }

    func sameLayout(as other: MemoryDescriptor) -> Bool {
        var a = raw
        var b = other.raw
        return dnnl_memory_desc_equal(&a, &b) != 0
    }
}
