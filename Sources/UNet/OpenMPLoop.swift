import COpenMP

/// Host loops on OpenMP's thread team, the one oneDNN's primitives run on.
enum OpenMPLoop {
    /// Threads in a parallel region.
    static var threads: Int { Int(copenmp_max_threads()) }

    /// Calls `body(i)` for every i in 0..<count, spread over the team, and returns when all are
    /// done. `body` runs on several threads at once: each index must touch its own data.
    static func forEach(_ count: Int, _ body: @Sendable (Int) -> Void) {
        guard count > 1 else {
            if count == 1 { body(0) }
            return
        }
        withoutActuallyEscaping(body) { body in
            var context = body
            withUnsafeMutablePointer(to: &context) { pointer in
                copenmp_parallel_for(count, { context, index in
                    guard let context else { return }
                    context.assumingMemoryBound(to: (@Sendable (Int) -> Void).self).pointee(index)
                }, pointer)
            }
        }
    }
}
