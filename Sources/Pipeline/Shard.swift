import Foundation

/// A stable, disjoint share of a batch: file `key` belongs to shard `FNV-1a(key) mod count`.
///
/// The key is the input's path relative to its input folder, so every process, on any machine,
/// agrees on the split without talking to the others.
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    /// 0-based, below `count`.
    public var index: Int
    public var count: Int

    /// Everything: one shard of one.
    public static let whole = Shard(index: 0, count: 1)

    public init(index: Int, count: Int) {
        self.index = index
        self.count = count
    }

    public var isWhole: Bool { count == 1 }

    public func contains(_ key: String) -> Bool {
        count == 1 || Int(FNV1aHash.of(key) % UInt64(count)) == index
    }

    public var description: String { "\(index)/\(count)" }

    /// `-shard-I-of-N` for file names, empty for the whole batch.
    public var fileSuffix: String { isWhole ? "" : "-shard-\(index)-of-\(count)" }

    /// The shard from `--shard I/N`; else from `--shard-count` with Kubernetes'
    /// `JOB_COMPLETION_INDEX`; else from a Slurm array's `SLURM_ARRAY_TASK_ID`,
    /// `SLURM_ARRAY_TASK_COUNT` (and `SLURM_ARRAY_TASK_MIN` and `SLURM_ARRAY_TASK_STEP`, so arrays
    /// may start at 1 and count in steps); else whole.
    public static func resolve(argument: String?, count countArgument: Int?,
                               environment: [String: String]) throws -> Shard {
        if let argument {
            let parts = argument.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]) else {
                throw PipelineError(path: "", reason: "--shard must look like I/N (for example 0/4), not '\(argument)'")
            }
            if let countArgument, countArgument != count {
                throw PipelineError(path: "", reason: "--shard \(argument) and --shard-count \(countArgument) disagree; give one of them")
            }
            return try checked(index: index, count: count, source: "--shard \(argument)")
        }
        if let indexText = environment["JOB_COMPLETION_INDEX"] {
            guard let countArgument else {
                throw PipelineError(path: "", reason: "JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job); give --shard-count with the job's completions")
            }
            guard let index = Int(indexText) else {
                throw PipelineError(path: "", reason: "JOB_COMPLETION_INDEX '\(indexText)' is not a number")
            }
            return try checked(index: index, count: countArgument, source: "JOB_COMPLETION_INDEX=\(indexText) with --shard-count \(countArgument)")
        }
        if let idText = environment["SLURM_ARRAY_TASK_ID"] {
            guard let id = Int(idText) else {
                throw PipelineError(path: "", reason: "SLURM_ARRAY_TASK_ID '\(idText)' is not a number")
            }
            guard let count = countArgument ?? environment["SLURM_ARRAY_TASK_COUNT"].flatMap({ Int($0) }) else {
                throw PipelineError(path: "", reason: "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not; give --shard-count")
            }
            let first = environment["SLURM_ARRAY_TASK_MIN"].flatMap { Int($0) } ?? 0
            // An array with a step (0-14:2) numbers its tasks first, first + step, ...
            let step = environment["SLURM_ARRAY_TASK_STEP"].flatMap { Int($0) } ?? 1
            guard step >= 1, (id - first) % step == 0 else {
                throw PipelineError(path: "", reason: "SLURM_ARRAY_TASK_ID=\(idText) is not on the array's step (SLURM_ARRAY_TASK_MIN \(first), SLURM_ARRAY_TASK_STEP \(step)); give --shard I/N")
            }
            return try checked(index: (id - first) / step, count: count, source: "SLURM_ARRAY_TASK_ID=\(idText)")
        }
        if let countArgument {
            throw PipelineError(path: "", reason: "--shard-count \(countArgument) needs JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID in the environment; use --shard I/N otherwise")
        }
        return .whole
    }

    static func checked(index: Int, count: Int, source: String) throws -> Shard {
        guard count >= 1, index >= 0, index < count else {
            throw PipelineError(path: "", reason: "\(source): the shard index must be from 0 to the shard count - 1, and the count at least 1")
        }
        return Shard(index: index, count: count)
    }
}
