import CDNNL

/// Scratch memory that the Winograd passes of one graph take turns with: the transformed input
/// and the products, and in training the transformed kernels (the kernels change every step
/// there, so every pass transforms them anew anyway; inference keeps them with the parameter).
/// The passes run one at a time, so one buffer of each, as large as the largest pass needs,
/// replaces one per pass (the reference network's `bench --mode train` peaked at 2.37 GiB with
/// per-pass buffers, 1.79 GiB with these).
final class WinogradWorkspace {
    private let engine: DNNLEngine
    /// Bytes each of the three buffers must hold.
    private var byteCounts = [0, 0, 0]
    private var buffers: [DNNLMemory] = []

    init(engine: DNNLEngine) {
        self.engine = engine
    }

    /// Records that a pass will want views with these descriptors (kernel, input, products; nil
    /// for a buffer the pass brings itself).
    func reserve(_ descriptors: [MemoryDescriptor?]) {
        for (index, descriptor) in descriptors.enumerated() {
            if let descriptor { byteCounts[index] = max(byteCounts[index], descriptor.byteCount) }
        }
    }

    /// Views of the shared buffers, which are allocated on the first call, once every pass of the
    /// graph has reserved its share.
    func views(_ descriptors: [MemoryDescriptor?]) throws -> [DNNLMemory?] {
        if buffers.isEmpty {
            buffers = try byteCounts.map { try DNNLMemory(MemoryDescriptor(dims: [max($0 / 4, 1)], tag: dnnl_a), engine: engine) }
        }
        return try zip(descriptors, buffers).map { descriptor, buffer in
            guard let descriptor else { return nil }
            guard descriptor.byteCount <= buffer.byteCount else {
                throw UNetError("a Winograd pass needs \(descriptor.byteCount) bytes of workspace that was allocated with \(buffer.byteCount)")
            }
            return try DNNLMemory(view: descriptor, of: buffer, engine: engine)
        }
    }
}
