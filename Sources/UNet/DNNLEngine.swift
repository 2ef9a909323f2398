import CDNNL

/// The CPU engine and its in-order stream: every primitive and memory of a model lives on one.
final class DNNLEngine {
    let engine: dnnl_engine_t
    let stream: dnnl_stream_t

    init() throws {
        // Every primitive and host loop runs on OpenMP's team, so its size is judged before any.
        try OpenMPLoop.checkTeamSize()
        var engine: dnnl_engine_t?
        try check(dnnl_engine_create(&engine, dnnl_cpu, 0), "engine_create")
        guard let engine else { throw UNetError("oneDNN engine_create returned no engine") }
        var stream: dnnl_stream_t?
        let status = dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue)
        guard status == dnnl_success, let stream else {
            dnnl_engine_destroy(engine)
            try check(status, "stream_create")
            throw UNetError("oneDNN stream_create returned no stream")
        }
        self.engine = engine
        self.stream = stream
    }

    /// Whether oneDNN computes bfloat16 in hardware here (AVX-512 with bf16, or AMX). Elsewhere a
    /// bf16 request computes in f32.
    var computesBF16Natively: Bool {
        let bf16 = dnnl_cpu_isa_avx512_core_bf16.rawValue
        return dnnl_get_effective_cpu_isa().rawValue & bf16 == bf16
    }

    /// Blocks until every primitive submitted so far has finished.
    func wait() throws {
        try check(dnnl_stream_wait(stream), "stream_wait")
    }

    deinit {
        dnnl_stream_destroy(stream)
        dnnl_engine_destroy(engine)
    }
}
