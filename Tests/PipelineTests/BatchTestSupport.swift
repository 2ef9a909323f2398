import Foundation
@testable import Pipeline

/// A folder with a small model (`m.safetensors`, 64-pixel tiles), `count` two-band scenes in
/// `scenes/` and a pipeline file `p.yml` predicting them into `maps/`.
struct BatchFixture {
    let folder: TemporaryDirectory
    let count: Int

    init(scenes count: Int, size: Int = 96) throws {
        folder = try TemporaryDirectory()
        self.count = count
        _ = try writeSmallModel(folder.file("m.safetensors"), tileSize: 64)
        try FileManager.default.createDirectory(atPath: folder.file("scenes"), withIntermediateDirectories: true)
        for i in 0..<count {
            try randomScene(folder.file("scenes/s\(i).tif"), width: size, height: size, seed: UInt64(100 + i))
        }
        try writePipeline(out: "maps")
    }

    func writePipeline(out: String) throws {
        let text = """
            stages:
              - stage: predict
                model: m.safetensors
                inputs: [scenes]
                out: \(out)
                batch-size: 4
            """
        try text.write(toFile: folder.file("p.yml"), atomically: true, encoding: .utf8)
    }

    var sceneKeys: Set<String> { Set((0..<count).map { "s\($0).tif" }) }

    /// An evaluate stage comparing the predicted `maps` with themselves.
    static let evaluateMaps = """
        stages:
          - stage: evaluate
            predictions: maps
            truth: maps
        """

    /// A runner of `text`, written as the pipeline file `name` in the fixture's folder.
    func runner(_ name: String, _ text: String, log: RunLog = RunLog(level: .quiet) { _, _ in }) throws -> PipelineRunner {
        try text.write(toFile: folder.file(name), atomically: true, encoding: .utf8)
        return try PipelineRunner(file: PipelineFile.load(path: folder.file(name)), log: log)
    }

    func job(out: String = "maps") -> BatchPredictionJob {
        BatchPredictionJob(options: PredictionOptions(modelPath: folder.file("m.safetensors"), outputDirectory: folder.file(out)),
                           inputs: [folder.file("scenes")])
    }

    /// Runs the batch in this process.
    func run(shard: Shard = .whole) throws -> RunReport {
        try BatchPrediction(job: job(), shard: shard).run(log: RunLog(level: .quiet) { _, _ in })
    }

    /// Visible (not dot-) files in a folder.
    func visibleFiles(_ name: String = "maps") -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.file(name))) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }
}

extension RunReport {
    func scenes(_ status: Status) -> Set<String> { Set(scenes.filter { $0.status == status }.map(\.scene)) }
}

/// The built `segpipe` executable beside the test bundle, or in `.build/debug` of the package.
func segpipeExecutable(filePath: String = #filePath) -> String? {
    let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("segpipe").path
    let root = URL(fileURLWithPath: filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let candidates = [beside, root.appendingPathComponent(".build/debug/segpipe").path]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// A running `segpipe` with stdout and stderr in files.
struct SegpipeProcess {
    let process = Process()
    let output: String

    init(_ executable: String, _ arguments: [String], in folder: TemporaryDirectory, environment: [String: String] = [:]) throws {
        output = folder.file(".out-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment
            .filter { !$0.key.hasPrefix("SLURM_") && $0.key != "JOB_COMPLETION_INDEX" }
            .merging(environment) { $1 }
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    /// Waits for the exit; returns the status and everything printed.
    func finish() -> (status: Int32, text: String) {
        process.waitUntilExit()
        return (process.terminationStatus, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }
}
