import COpenMP
import Foundation

/// Host loops on OpenMP's thread team, the one oneDNN's primitives run on.
enum OpenMPLoop {
    /// Threads in a parallel region.
    static var threads: Int { Int(copenmp_max_threads()) }

    /// The most threads a team may have: more than any CPU segpipe runs on has hardware threads.
    /// libgomp reserves stack space per thread when it starts a team, so an absurd
    /// `OMP_NUM_THREADS` (100000) overflows the stack instead of failing politely.
    static func threadLimit(processors: Int = ProcessInfo.processInfo.activeProcessorCount) -> Int {
        max(1024, 4 * processors)
    }

    /// Refuses a team size that libgomp would crash on or crawl with, naming the variable that
    /// set it. libgomp reads `OMP_NUM_THREADS` when it loads, so this can only report, not fix.
    static func checkTeamSize(threads: Int = threads, limit: Int = threadLimit()) throws {
        guard threads > limit else { return }
        throw UNetError(
            "OMP_NUM_THREADS asks for \(threads) threads, more than segpipe will start (at most \(limit) here); "
                + "one per core is fastest: lower it or unset it")
    }

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
