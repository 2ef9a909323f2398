import Foundation
import Raster

/// The batch manifest of an output folder: what each input scene was when its outputs were made.
///
/// Each run writes only its own file (`segpipe-manifest.json`, or
/// `segpipe-manifest-shard-I-of-N.json` for a shard), atomically, after every finished scene.
/// Reading merges every manifest in the folder and keeps, per scene, the newest record, so shards
/// never write one file together and a later unsharded run sees their work.
public struct SceneManifest: Sendable {
    /// One finished scene.
    public struct Record: Codable, Sendable, Equatable {
        /// The input's path relative to its input folder (its file name).
        public var scene: String
        public var input: FileFingerprint
        /// FNV-1a of the model file.
        public var model: String
        /// The options that change the outputs, in a canonical form.
        public var options: String
        /// Output file names in the output folder.
        public var outputs: [String]
        public var completed: Date
        /// The input's path when its outputs were made; nil in manifests before 2026-11-30.
        public var source: String?
        /// Each output's size and modification time as written; nil in manifests before
        /// 2026-11-30 (their outputs are only checked to exist).
        public var written: [String: OutputStatus]?

        public init(scene: String, input: FileFingerprint, model: String, options: String, outputs: [String],
                    completed: Date, source: String? = nil, written: [String: OutputStatus]? = nil) {
            self.scene = scene
            self.input = input
            self.model = model
            self.options = options
            self.outputs = outputs
            self.completed = completed
            self.source = source
            self.written = written
        }
    }

    /// What an output was when this run wrote it: anything else wrote it since (a `segpipe
    /// predict` into the folder, a copy, an edit) if either differs.
    public struct OutputStatus: Codable, Sendable, Equatable {
        public var size: Int64
        public var modifiedNanoseconds: Int64

        public init(size: Int64, modifiedNanoseconds: Int64) {
            self.size = size
            self.modifiedNanoseconds = modifiedNanoseconds
        }

        /// The file's status now, or nil when it cannot be read.
        public static func of(_ path: String) -> OutputStatus? {
            (try? FileFingerprint.status(of: path)).map { OutputStatus(size: $0.size, modifiedNanoseconds: $0.modifiedNanoseconds) }
        }
    }

    struct File: Codable {
        var format = "segpipe-manifest/1"
        var records: [Record]
    }

    public static let filePrefix = "segpipe-manifest"
    public var records: [String: Record] = [:]
    /// Manifest files of the folder that could not be read (their scenes are predicted again).
    public var unreadable: [String] = []

    public init(records: [String: Record] = [:]) { self.records = records }

    public static func fileName(for shard: Shard) -> String { filePrefix + shard.fileSuffix + ".json" }

    /// Every manifest in `folder`, merged (newest record per scene). A manifest that cannot be
    /// read is ignored: its scenes are simply redone.
    public static func merged(in folder: String) -> SceneManifest {
        var manifest = SceneManifest()
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = ISO8601Time.decoding
        for name in names.sorted() where name.hasPrefix(filePrefix) && name.hasSuffix(".json") {
            let path = (folder as NSString).appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: path),
                  let file = try? decoder.decode(File.self, from: data) else {
                manifest.unreadable.append(path)
                continue
            }
            for record in file.records {
                if let known = manifest.records[record.scene], known.completed >= record.completed { continue }
                manifest.records[record.scene] = record
            }
        }
        return manifest
    }

    /// Writes `records` (this run's share) as `fileName(for: shard)` in `folder`, atomically.
    public static func write(_ records: [Record], to folder: String, shard: Shard) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = ISO8601Time.encoding
        let data = try encoder.encode(File(records: records.sorted { $0.scene < $1.scene }))
        try AtomicFile.write(data, to: (folder as NSString).appendingPathComponent(fileName(for: shard)))
    }
}
