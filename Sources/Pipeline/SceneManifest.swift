import Foundation

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
