import Foundation
import Raster

/// `run-report.json` (or `run-report-shard-I-of-N.json`): what one batch prediction run did.
public struct RunReport: Codable, Sendable {
    public enum Status: String, Codable, Sendable {
        case done, skipped, failed
    }

    public struct Scene: Codable, Sendable {
        public var scene: String
        public var status: Status
        public var seconds: Double
        /// Time spent inside the network, for scenes predicted in this run.
        public var networkSeconds: Double?
        public var tiles: Int?
        /// Share of valid pixels per class id 0...classes, for scenes predicted in this run.
        public var classFractions: [Double]?
        public var outputs: [String]
        public var error: String?
    }

    public var pipeline: String
    public var stage: String
    public var shard: String
    public var pid: Int32
    public var model: String
    public var started: Date
    public var finished: Date?
    /// Why the stage ended before its scenes did (a signal, an unreadable model, a full disk);
    /// nil for a run that went through. A report without `finished` is of a run still going, or
    /// killed.
    public var stoppedBecause: String?
    public var scenes: [Scene] = []

    public var done: Int { scenes.filter { $0.status == .done }.count }
    public var skipped: Int { scenes.filter { $0.status == .skipped }.count }
    public var failed: Int { scenes.filter { $0.status == .failed }.count }

    public static func fileName(for shard: Shard) -> String { "run-report" + shard.fileSuffix + ".json" }

    public func write(to folder: String, shard: Shard) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = ISO8601Time.encoding
        try AtomicFile.write(try encoder.encode(self), to: (folder as NSString).appendingPathComponent(Self.fileName(for: shard)))
    }

    public static func read(_ path: String) throws -> RunReport {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = ISO8601Time.decoding
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PipelineError(path: path, reason: "cannot be read")
        }
        return try decoder.decode(RunReport.self, from: data)
    }
}
