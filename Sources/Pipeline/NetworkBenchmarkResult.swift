import Foundation
import UNet

/// What `segpipe bench` reports; encodes as the JSON object of `segpipe bench --json`.
public struct NetworkBenchmarkResult: Sendable, Codable, Equatable {
    public var mode: NetworkBenchmark.Mode
    public var batchSize: Int
    /// `f32` or `bf16`.
    public var precision: String
    /// `direct` or `winograd`: how the 3×3 convolutions ran.
    public var convolution: String
    public var upsampling: Upsampling
    public var steps: Int
    public var warmUpSteps: Int
    public var tilesPerSecondMedian: Double
    public var tilesPerSecondBest: Double
    public var gflopsMedian: Double
    public var gflopsBest: Double
    /// Every timed step's wall time, in order.
    public var stepSeconds: [Double]
    /// The process's peak resident memory (VmHWM) after the run; nil where /proc is unavailable.
    public var peakResidentBytes: Int?

    /// One human-readable paragraph.
    public var summary: String {
        let memory = peakResidentBytes.map { String(format: "%.2f GiB", Double($0) / 1_073_741_824) } ?? "unknown"
        return """
            \(mode.rawValue), batch \(batchSize), \(precision), \(convolution) convolutions, \(upsampling.rawValue) upsampling: \
            \(String(format: "%.2f", tilesPerSecondMedian)) tiles/s median, \
            \(String(format: "%.2f", tilesPerSecondBest)) best; \
            \(String(format: "%.1f", gflopsMedian)) GFLOP/s median, \(String(format: "%.1f", gflopsBest)) best \
            (\(steps) steps after \(warmUpSteps) warm-up); peak memory \(memory)
            """
    }
}
