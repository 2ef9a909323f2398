import Foundation
import Raster

/// The predict stage of `segpipe run`: an incremental, locked, shardable batch over a folder.
///
/// - Incremental: a scene is skipped when the merged `SceneManifest` of the output folder has a
///   record matching its size and content hash, the model's hash and the output-changing options,
///   and every output of that record exists.
/// - One at a time: the run holds `.segpipe.lock` in the output folder (exclusively when
///   unsharded, shared by the shards of a job) and each shard its own `.segpipe-shard-I-of-N.lock`.
/// - Nothing half-written: the predictor's outputs, the manifest and the report are each written
///   under a temporary name and renamed; leftovers of killed runs are removed at the start.
/// - Failures isolated: a scene that fails is reported and has no record, so the next run retries it.
public struct BatchPrediction {
    public var job: BatchPredictionJob
    public var shard: Shard
    /// For the report: the pipeline file and stage name.
    public var pipeline: String
    public var stage: String

    public init(job: BatchPredictionJob, shard: Shard = .whole, pipeline: String = "", stage: String = "predict") {
        self.job = job
        self.shard = shard
        self.pipeline = pipeline
        self.stage = stage
    }

    var outputFolder: String { job.options.outputDirectory }

    /// The options that change the outputs (not the batch size), canonical.
    public var optionsKey: String {
        let o = job.options
        return "overlap=\(o.overlap.map(String.init) ?? "default") tta=\(o.testTimeAugmentation) "
            + "probabilities=\(o.writeProbabilities) threshold=\(o.threshold) paint=\(o.paint.rawValue) "
            + "precision=\(o.precision.rawValue) convolution=\(o.convolution.rawValue)"
    }

    /// This shard's scenes: (key, path), the key being the file name; and the scenes of this
    /// shard that cannot be predicted because an earlier scene makes the same outputs (each run
    /// reports them as failed and predicts the rest). Throws when an input cannot be listed.
    public func scenes() throws -> (scenes: [(key: String, path: String)], collisions: [PipelineError]) {
        let list = Predictor.sceneList(job.inputs, longestOutputSuffix: job.options.writeProbabilities ? ".prob.tif" : ".png")
        if let problem = list.unreadable.first { throw problem }
        let scenes = list.scenes.map { (key: ($0 as NSString).lastPathComponent, path: $0) }.filter { shard.contains($0.key) }
        let collisions = list.collisions.filter { shard.contains(($0.path as NSString).lastPathComponent) }
        return (scenes, collisions)
    }

    /// Why a scene needs predicting, or nil when its record matches and its outputs are as this
    /// folder's runs wrote them.
    func staleness(of record: SceneManifest.Record?, input: FileFingerprint, model: String) -> String? {
        guard let record else { return "new" }
        if record.input.size != input.size || record.input.hash != input.hash { return "input changed" }
        if record.model != model { return "model changed" }
        if record.options != optionsKey { return "options changed" }
        let folder = outputFolder
        for name in record.outputs {
            let path = (folder as NSString).appendingPathComponent(name)
            guard let status = SceneManifest.OutputStatus.of(path) else { return "\(name) is missing" }
            if let written = record.written?[name], written != status { return "\(name) was changed since it was made" }
        }
        return nil
    }

    /// Why a scene must not be predicted into this folder: its outputs were made from another
    /// file of the same name (another pipeline, or another list of inputs, writing here) with
    /// other content, another model or other options, which the two runs would otherwise
    /// overwrite in turn, night after night. A source that no longer exists is no clash: the
    /// input folder was moved or renamed.
    func clash(with record: SceneManifest.Record?, path: String, input: FileFingerprint, model: String) -> String? {
        guard let record, let source = record.source, source != Self.sourcePath(path),
              record.input.size != input.size || record.input.hash != input.hash || record.model != model || record.options != optionsKey,
              let other = FileFingerprint.identity(of: source), other != FileFingerprint.identity(of: path) else { return nil }
        return "the outputs of \(record.scene) here were made from \(source), another file; give each pipeline its own "
            + "output folder, or delete \(record.outputs.joined(separator: ", ")) to predict this one here"
    }

    /// The input's path as the manifest records it: absolute, as the inputs spell it. Links are
    /// kept: `latest -> 2026-11-30/` re-pointed each night is one input whose content changed.
    /// Another spelling of one file (a linked project folder) is told apart by `FileFingerprint.identity(of:)`.
    static func sourcePath(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }

    /// The recorded outputs of `scene` that this prediction did not write again, limited to names
    /// the scene's prediction can have. The manifest is a file in a folder others may write to:
    /// a name it lists such as `../x` or another scene's map must never be removed.
    static func outdatedOutputs(recorded: [String], written: [String], scene: String) -> [String] {
        let stem = ((scene as NSString).lastPathComponent as NSString).deletingPathExtension
        let possible = Set([".png", ".pgw", ".prob.tif"].map { stem + $0 })
        return recorded.filter { possible.contains($0) && !written.contains($0) }
    }

    /// The recorded fingerprint, for reuse when the file's size and time match: only when it was
    /// taken of this same path.
    func recordedInput(_ record: SceneManifest.Record?, path: String) -> FileFingerprint? {
        guard let record, record.source == nil || record.source == Self.sourcePath(path) else { return nil }
        return record.input
    }

    /// What a run would do, without locking or writing anything (`--dry-run`).
    /// `retrainedBy` names an earlier stage of the run that trains the model: if it changes the
    /// file, every scene is predicted again.
    public func plan(log: RunLog, retrainedBy trainStage: String? = nil) throws {
        let (scenes, collisions) = try self.scenes()
        for collision in collisions { log.error("would fail \(collision)") }
        let manifest = SceneManifest.merged(in: outputFolder)
        for path in manifest.unreadable { log.error("\(path): not a readable manifest; the scenes it recorded would be predicted again") }
        guard FileManager.default.fileExists(atPath: job.options.modelPath) else {
            log.info("\(stage): would predict all \(scenes.count) scenes (the model is not trained yet)")
            return
        }
        let model = try FNV1aHash.ofFile(job.options.modelPath).hex
        var todo = 0
        for scene in scenes {
            let record = manifest.records[scene.key]
            let input = try FileFingerprint.of(scene.path, reusingHashOf: recordedInput(record, path: scene.path))
            if let problem = clash(with: record, path: scene.path, input: input, model: model) {
                log.error("would fail \(scene.key)  \(problem)")
            } else if let reason = staleness(of: record, input: input, model: model) {
                todo += 1
                log.info("would predict  \(scene.key)  (\(reason))")
            } else {
                log.detail("up to date     \(scene.key)")
            }
        }
        log.info("\(stage): would predict \(todo) of \(scenes.count) scenes\(shard.isWhole ? "" : " in shard \(shard)")"
            + (trainStage.map { " with the current model; all \(scenes.count) if stage '\($0)' changes it" } ?? ""))
    }

    /// Runs the batch. Throws `RunLockBusy` when another run holds the folder, `RunInterrupted`
    /// when `stopRequested` turns true (checked between scenes), and other errors
    /// when the batch cannot start (unlistable inputs, unreadable model); a failing scene does not
    /// throw but is marked failed in the returned report.
    public func run(log: RunLog, stopRequested: @Sendable () -> Bool = { false }) throws -> RunReport {
        let folder = outputFolder
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw PipelineError(path: folder, reason: "cannot create the output folder (\(error.localizedDescription))")
        }
        let locks = try lock()
        defer { withExtendedLifetime(locks) {} }

        var report = RunReport(pipeline: pipeline, stage: stage, shard: shard.description, pid: getpid(),
                               model: job.options.modelPath, started: Date())
        // At once: a run that stops early (an unreadable model, a full disk) must not leave the
        // last run's report, which may say that every scene is done.
        try report.write(to: folder, shard: shard)
        do {
            try predictScenes(into: &report, folder: folder, log: log, stopRequested: stopRequested)
        } catch let interrupted as RunInterrupted {
            throw interrupted
        } catch {
            report.stoppedBecause = "\(error)"
            report.finished = Date()
            try? report.write(to: folder, shard: shard)
            throw error
        }
        return report
    }

    /// The body of `run`, filling `report` as it goes.
    private func predictScenes(into report: inout RunReport, folder: String, log: RunLog,
                               stopRequested: @Sendable () -> Bool) throws {
        let (scenes, collisions) = try self.scenes()
        removeLeftovers(of: scenes.map(\.key))
        let manifest = SceneManifest.merged(in: folder)
        for path in manifest.unreadable { log.error("\(path): not a readable manifest; the scenes it recorded are predicted again") }
        let model = try FNV1aHash.ofFile(job.options.modelPath).hex
        if scenes.isEmpty && collisions.isEmpty && shard.isWhole {
            // Not a failure (a folder may be empty tonight), but worth a line in a quiet log: an
            // unmounted share looks the same.
            log.error("\(stage): no scenes in \(job.inputs.joined(separator: ", "))")
        }
        for collision in collisions {
            report.scenes.append(.init(scene: collision.path, status: .failed, seconds: 0, outputs: [], error: collision.reason))
            log.error("failed   \(collision)")
        }
        // Unsharded, the manifest keeps the records of scenes that are not among these inputs (put
        // there by another pipeline writing to this folder, or by an earlier list of inputs), so
        // that their outputs stay up to date for the run that made them.
        let keys = Set(scenes.map(\.key))
        var records = shard.isWhole ? manifest.records.filter { !keys.contains($0.key) } : [:]
        log.detail("\(stage): \(scenes.count) scenes\(shard.isWhole ? "" : " in shard \(shard)"), model \(model), \(optionsKey)")
        func interrupt() throws -> Never {
            try SceneManifest.write(Array(records.values), to: folder, shard: shard)
            report.stoppedBecause = "interrupted by a signal; the next run predicts the scenes this one did not reach"
            report.finished = Date()
            try report.write(to: folder, shard: shard)
            throw RunInterrupted(stage: stage)
        }

        // First what needs predicting, so the predictor can run from one stale scene into the next.
        var stale: [(key: String, path: String, input: FileFingerprint, previous: SceneManifest.Record?)] = []
        for scene in scenes {
            if stopRequested() { try interrupt() }
            let started = Date()
            let previous = manifest.records[scene.key]
            let input: FileFingerprint
            do {
                input = try FileFingerprint.of(scene.path, reusingHashOf: recordedInput(previous, path: scene.path))
            } catch {
                report.scenes.append(.init(scene: scene.key, status: .failed, seconds: Date().timeIntervalSince(started),
                                           outputs: [], error: "\(error)"))
                log.error("failed   \(scene.key)  \(error)")
                try report.write(to: folder, shard: shard)
                continue
            }
            if let problem = clash(with: previous, path: scene.path, input: input, model: model) {
                report.scenes.append(.init(scene: scene.key, status: .failed, seconds: 0, outputs: [], error: problem))
                log.error("failed   \(scene.key)  \(problem)")
                if let previous { records[scene.key] = previous }
                try report.write(to: folder, shard: shard)
                continue
            }
            guard let reason = staleness(of: previous, input: input, model: model) else {
                if var kept = previous {
                    kept.input = input
                    // The same content at another path (a moved input folder) is this input now.
                    kept.source = Self.sourcePath(scene.path)
                    records[scene.key] = kept
                    report.scenes.append(.init(scene: scene.key, status: .skipped, seconds: 0, outputs: kept.outputs))
                }
                log.info("skipped  \(scene.key)  (up to date)")
                continue
            }
            log.detail("to predict \(scene.key) (\(reason))")
            stale.append((scene.key, scene.path, input, previous))
        }

        var networkSeconds = 0.0
        if !stale.isEmpty {
            // Made only now, so that a run with nothing to do does not load the model.
            let predictor = try Predictor(options: job.options)
            if let warning = predictor.config.speedWarning { log.info("note: " + warning) }
            var next = 0
            var previousLanded = Date()
            var stopped = false
            // Results come one per scene, in order.
            networkSeconds = try predictor.predict(scenes: stale.map(\.path)) { _, outcome in
                guard next < stale.count else { return false }
                let scene = stale[next]
                next += 1
                switch outcome {
                case .success(let result):
                    let outputs = result.outputs.map { ($0 as NSString).lastPathComponent }
                    // What the last prediction wrote and this one did not (probabilities since
                    // turned off, a world file of a scene no longer georeferenced) is out of date.
                    for name in Self.outdatedOutputs(recorded: scene.previous?.outputs ?? [], written: outputs, scene: scene.path) {
                        unlink((folder as NSString).appendingPathComponent(name))
                    }
                    var written: [String: SceneManifest.OutputStatus] = [:]
                    for (name, path) in zip(outputs, result.outputs) { written[name] = SceneManifest.OutputStatus.of(path) }
                    records[scene.key] = SceneManifest.Record(scene: scene.key, input: scene.input, model: model,
                                                              options: optionsKey, outputs: outputs, completed: Date(),
                                                              source: Self.sourcePath(scene.path), written: written)
                    try SceneManifest.write(Array(records.values), to: folder, shard: shard)
                    report.scenes.append(.init(scene: scene.key, status: .done, seconds: result.seconds,
                                               networkSeconds: result.networkSeconds, tiles: result.tiles,
                                               classFractions: result.classFractions, outputs: outputs))
                    log.info(String(format: "done     %@  %d tiles  %.2f s (network %.2f s)  -> %@", scene.key, result.tiles,
                                    result.seconds, result.networkSeconds, outputs.joined(separator: ", ")))
                case .failure(let error):
                    // The outputs on disk are still the last prediction's, as its record says.
                    if let previous = scene.previous { records[scene.key] = previous }
                    // Scenes overlap in the pipeline; a failed one is charged the time since the one before it landed.
                    report.scenes.append(.init(scene: scene.key, status: .failed, seconds: Date().timeIntervalSince(previousLanded),
                                               outputs: [], error: "\(error)"))
                    log.error("failed   \(scene.key)  \(error)")
                }
                previousLanded = Date()
                try report.write(to: folder, shard: shard)
                stopped = next < stale.count && stopRequested()
                return !stopped
            }
            if stopped { try interrupt() }
        }
        try SceneManifest.write(Array(records.values), to: folder, shard: shard)
        report.finished = Date()
        try report.write(to: folder, shard: shard)
        let seconds = report.finished.map { $0.timeIntervalSince(report.started) } ?? 0
        if report.done == 0 && report.failed == 0 {
            log.info("\(stage): nothing to do, all \(report.skipped) scenes are up to date\(shard.isWhole ? "" : " in shard \(shard)")")
        } else {
            let network = networkSeconds
            log.info(String(format: "%@: %d done, %d skipped (up to date), %d failed in %.1f s (network busy %.1f %%)%@", stage,
                            report.done, report.skipped, report.failed, seconds, 100 * network / max(seconds, 1e-9),
                            shard.isWhole ? "" : " in shard \(shard)"))
        }
    }

    /// The folder lock (exclusive when unsharded, shared by shards) and this shard's own lock.
    func lock() throws -> [RunLock] {
        let folder = outputFolder
        let folderLockPath = (folder as NSString).appendingPathComponent(".segpipe.lock")
        let folderLock: RunLock
        do {
            folderLock = try RunLock(path: folderLockPath, mode: shard.isWhole ? .exclusive : .shared)
        } catch var busy as RunLockBusy where shard.isWhole {
            // Held shared by shards: their PIDs are in their own lock files.
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            busy.holders += names.filter { $0.hasPrefix(".segpipe-shard-") && $0.hasSuffix(".lock") }
                .compactMap { RunLock.recordedHolder((folder as NSString).appendingPathComponent($0)) }
            throw busy
        }
        guard !shard.isWhole else { return [folderLock] }
        let shardLock = try RunLock(path: (folder as NSString).appendingPathComponent(".segpipe\(shard.fileSuffix).lock"), mode: .exclusive)
        return [folderLock, shardLock]
    }

    /// Removes temporary files that killed runs left: those of dead processes of this machine,
    /// the PNG writer's `.STEM.png.UUID.tmp` of this shard's scenes as versions before 2026-11
    /// named them (which only this run, holding this shard's lock, may be writing), and, when
    /// unsharded (so no other run writes here), Foundation's `.dat.nosync*` from atomic writes of
    /// world files.
    func removeLeftovers(of keys: [String]) {
        let folder = outputFolder
        AtomicFile.removeStaleTemporaries(in: folder)
        let prefixes = keys.map { "." + ($0 as NSString).deletingPathExtension + ".png." }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        for name in names where name.hasPrefix(".") {
            let oldPNGTemporary = name.hasSuffix(".tmp") && prefixes.contains(where: name.hasPrefix)
            let foundationTemporary = shard.isWhole && name.hasPrefix(".dat.nosync")
            if oldPNGTemporary || foundationTemporary { unlink((folder as NSString).appendingPathComponent(name)) }
        }
    }
}
