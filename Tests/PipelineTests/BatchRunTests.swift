import Foundation
import Raster
import Synchronization
import UNet
import Testing
@testable import Pipeline

@Test func aSecondRunOverAnUnchangedFolderDoesNoWork() throws {
    let fixture = try BatchFixture(scenes: 3, size: 64)
    let first = try fixture.run()
    #expect(first.scenes(.done) == fixture.sceneKeys)
    #expect(fixture.visibleFiles() == ["run-report.json", "s0.png", "s1.png", "s2.png", "segpipe-manifest.json"])
    let second = try fixture.run()
    #expect(second.scenes(.skipped) == fixture.sceneKeys)
    #expect(second.done == 0 && second.failed == 0)
    // The report on disk is this run's.
    let written = try RunReport.read(fixture.folder.file("maps/run-report.json"))
    #expect(written.skipped == 3 && written.finished != nil)
}

@Test func aChangedInputOrModelIsRedoneAndATouchedOneIsNot() throws {
    let fixture = try BatchFixture(scenes: 3, size: 64)
    _ = try fixture.run()
    let s1 = fixture.folder.file("scenes/s1.tif"), s2 = fixture.folder.file("scenes/s2.tif")

    // Touched, same content: the hash matches, nothing is predicted.
    try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: 60)], ofItemAtPath: s1)
    #expect(try fixture.run().done == 0)

    // New content of the same size, and a touch: redone.
    try randomScene(s2, width: 64, height: 64, seed: 999)
    try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: 120)], ofItemAtPath: s2)
    let afterEdit = try fixture.run()
    #expect(afterEdit.scenes(.done) == ["s2.tif"])
    #expect(afterEdit.scenes(.skipped) == ["s0.tif", "s1.tif"])

    // A deleted output: redone.
    try FileManager.default.removeItem(atPath: fixture.folder.file("maps/s0.png"))
    #expect(try fixture.run().scenes(.done) == ["s0.tif"])

    // Another model: everything is redone.
    let config = UNetConfig(nClasses: 3, nChannels: 2, tileSize: 64, nFiltersStart: 4, growthFactor: 2, depth: 2,
                            upsampling: .transpose, dropout: 0)
    try ModelFile(model: try UNetModel(config: config, seed: 77), normalization: Normalization.identity(bands: 2).modelNormalization)
        .write(toFile: fixture.folder.file("m.safetensors"))
    #expect(try fixture.run().scenes(.done) == fixture.sceneKeys)

    // An option that changes the outputs: everything is redone.
    var job = fixture.job()
    job.options.paint = .ordered
    #expect(try BatchPrediction(job: job).run(log: RunLog(level: .quiet) { _, _ in }).scenes(.done) == fixture.sceneKeys)
}

@Test func aCorruptSceneFailsAloneAndIsRetriedNextTime() throws {
    let fixture = try BatchFixture(scenes: 3, size: 64)
    try Data("not a TIFF at all".utf8).write(to: URL(fileURLWithPath: fixture.folder.file("scenes/broken.tif")))
    let report = try fixture.run()
    #expect(report.scenes(.done) == fixture.sceneKeys)
    #expect(report.scenes(.failed) == ["broken.tif"])
    let failure = try #require(report.scenes.first { $0.status == .failed })
    #expect(failure.error?.contains("broken.tif") == true)
    // Failed scenes have no record: the next run tries again, and only them.
    let again = try fixture.run()
    #expect(again.scenes(.failed) == ["broken.tif"] && again.done == 0)
}

@Test func theLockIsExclusiveAndFreedWithItsHolder() throws {
    let fixture = try BatchFixture(scenes: 1, size: 64)
    try FileManager.default.createDirectory(atPath: fixture.folder.file("maps"), withIntermediateDirectories: true)
    let lockPath = fixture.folder.file("maps/.segpipe.lock")
    do {
        let held = try RunLock(path: lockPath, mode: .exclusive)
        #expect(throws: RunLockBusy.self) { try fixture.run() }
        #expect(throws: RunLockBusy.self) { try fixture.run(shard: Shard(index: 0, count: 2)) }
        #expect(RunLock.recordedHolder(lockPath) == getpid())
        withExtendedLifetime(held) {}
    }
    #expect(try fixture.run().done == 1)
}

@Test func leftoversOfDeadRunsAreRemovedAndThoseOfLiveOnesKept() throws {
    let fixture = try BatchFixture(scenes: 1, size: 64)
    let maps = fixture.folder.file("maps")
    try FileManager.default.createDirectory(atPath: maps, withIntermediateDirectories: true)
    let dead = try exitedProcessID()
    let host = TemporaryFileName.host
    // A dead process's files on another machine sharing the folder may be a live write there: kept.
    // One a day old is abandoned wherever it was written.
    let ours = ".other.tif.tmp-\(getpid())@\(host)-3"
    let names = [".s0.png.tmp-\(dead)-1", ".segpipe-manifest.json.tmp-\(dead)@\(host)-2", ".s0.png.0F1E.tmp", ".dat.nosync12.ab",
                 ours, ".report.json.tmp-\(dead)@elsewhere-4", ".old.png.tmp-\(dead)@elsewhere-5"]
    for name in names { _ = FileManager.default.createFile(atPath: "\(maps)/\(name)", contents: Data([1])) }
    try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -2 * 24 * 3600)],
                                          ofItemAtPath: "\(maps)/.old.png.tmp-\(dead)@elsewhere-5")
    #expect(try fixture.run().done == 1)
    let hidden = try FileManager.default.contentsOfDirectory(atPath: maps).filter { $0.hasPrefix(".") }.sorted()
    #expect(hidden == [ours, ".report.json.tmp-\(dead)@elsewhere-4", ".segpipe.lock"])
}

@Test func aDryRunSaysWhatItWouldDoAndWritesNothing() throws {
    let fixture = try BatchFixture(scenes: 2, size: 64)
    let lines = LockedLines()
    let runner = try PipelineRunner(file: PipelineFile.load(path: fixture.folder.file("p.yml")),
                                    log: RunLog(level: .normal) { line, _ in lines.append(line) })
    try runner.dryRun()
    #expect(lines.all.last == "predict: would predict 2 of 2 scenes")
    #expect(!FileManager.default.fileExists(atPath: fixture.folder.file("maps")))
    _ = try fixture.run()
    try runner.dryRun()
    #expect(lines.all.last == "predict: would predict 0 of 2 scenes")
}

/// Collects log lines from a `@Sendable` sink.
final class LockedLines: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

/// An option wrong in itself is refused when the file is read, and one that only the model can
/// judge (an overlap that does not fit its tiles) when the file is checked: before any stage runs.
@Test func anOptionThePredictorRefusesIsReportedAtItsKey() throws {
    let fixture = try BatchFixture(scenes: 1, size: 64)
    let base = try String(contentsOfFile: fixture.folder.file("p.yml"), encoding: .utf8)
    try (base + "\n    threshold: 2\n").write(toFile: fixture.folder.file("p.yml"), atomically: true, encoding: .utf8)
    #expect(throws: PipelineFileProblems(PipelineFileError(path: fixture.folder.file("p.yml"), line: 7, column: 16,
                                                           message: "'threshold' must be between 0 and 1"))) {
        try PipelineFile.load(path: fixture.folder.file("p.yml"))
    }
    try (base + "\n    overlap: 30\n").write(toFile: fixture.folder.file("p.yml"), atomically: true, encoding: .utf8)
    #expect(throws: PipelineFileProblems(PipelineFileError(path: fixture.folder.file("p.yml"), line: 7, column: 14,
                                                           message: "'overlap' 30 must be at most half the tile size (32) and leave a step that is a multiple of 4"))) {
        try PipelineRunner(file: PipelineFile.load(path: fixture.folder.file("p.yml")), log: RunLog(level: .quiet) { _, _ in })
    }
}

/// A stop request that arrives while a predict stage finishes its last scene ends the run there:
/// the next stage does not run, and the run reports the interruption instead of success.
@Test func aStopDuringTheLastSceneSkipsTheLaterStages() throws {
    let fixture = try BatchFixture(scenes: 1, size: 64)
    let text = try String(contentsOfFile: fixture.folder.file("p.yml"), encoding: .utf8) + """

          - stage: evaluate
            predictions: maps
            truth: scenes
            report: report.json
        """
    try text.write(toFile: fixture.folder.file("p.yml"), atomically: true, encoding: .utf8)
    var runner = try PipelineRunner(file: PipelineFile.load(path: fixture.folder.file("p.yml")), log: RunLog(level: .quiet) { _, _ in })
    let map = fixture.folder.file("maps/s0.png")
    runner.stopRequested = { FileManager.default.fileExists(atPath: map) }
    #expect(throws: RunInterrupted(stage: "predict", stageFinished: true)) { try runner.run() }
    #expect(FileManager.default.fileExists(atPath: map))
    #expect(!FileManager.default.fileExists(atPath: fixture.folder.file("report.json")))
}

/// An evaluate stage stops between scenes when asked, and writes no report.
@Test func anEvaluateStageStopsBetweenScenes() throws {
    let fixture = try BatchFixture(scenes: 2, size: 64)
    _ = try fixture.run()
    var runner = try fixture.runner("e.yml", BatchFixture.evaluateMaps + "\n    report: report.json")
    let stopper = StopAfter(2)
    runner.stopRequested = { stopper.check() }
    #expect(throws: RunInterrupted(stage: "evaluate", continuesNextRun: false)) { try runner.run() }
    #expect(stopper.calls.load(ordering: .relaxed) == 3, "asked before the stage and before each of the two scenes")
    #expect(!FileManager.default.fileExists(atPath: fixture.folder.file("report.json")))
}

/// The manifest lives in a folder others may write to: of the outputs it lists, a redo removes
/// only names the scene's own prediction can have, never `../x`, a folder or another file.
@Test func aRedoRemovesOnlyTheScenesOwnOutdatedOutputs() throws {
    let recorded = ["s0.png", "s0.pgw", "s0.prob.tif", "../victim.txt", "keep.txt", "/etc/passwd", "s1.png", "..", "s0.png/../x"]
    #expect(BatchPrediction.outdatedOutputs(recorded: recorded, written: ["s0.png"], scene: "/in/s0.tif") == ["s0.pgw", "s0.prob.tif"])

    let fixture = try BatchFixture(scenes: 1, size: 64)
    _ = try fixture.run()
    let manifestPath = fixture.folder.file("maps/segpipe-manifest.json")
    var manifest = try String(contentsOfFile: manifestPath, encoding: .utf8)
    manifest = manifest.replacingOccurrences(of: "\"outputs\" : [", with: "\"outputs\" : [\"../victim.txt\", \"keep.txt\", ")
    #expect(manifest.contains("victim"))
    try manifest.write(toFile: manifestPath, atomically: false, encoding: .utf8)
    for name in ["victim.txt", "maps/keep.txt"] { FileManager.default.createFile(atPath: fixture.folder.file(name), contents: Data()) }
    var job = fixture.job()
    job.options.threshold = 0.3
    _ = try BatchPrediction(job: job).run(log: RunLog(level: .quiet) { _, _ in })
    #expect(FileManager.default.fileExists(atPath: fixture.folder.file("victim.txt")))
    #expect(FileManager.default.fileExists(atPath: fixture.folder.file("maps/keep.txt")))
}

/// A run that cannot go through (here the model has become unreadable) replaces the last run's
/// report, which said every scene was done, with one that says why it stopped.
@Test func aStoppedRunLeavesAReportSayingWhy() throws {
    let fixture = try BatchFixture(scenes: 2, size: 64)
    #expect(try fixture.run().done == 2)
    let model = try Data(contentsOf: URL(fileURLWithPath: fixture.folder.file("m.safetensors")))
    try model.prefix(model.count / 2).write(to: URL(fileURLWithPath: fixture.folder.file("m.safetensors")))
    #expect(throws: (any Error).self) { try fixture.run() }
    let report = try RunReport.read(fixture.folder.file("maps/run-report.json"))
    #expect(report.scenes.isEmpty)
    #expect(report.finished != nil)
    #expect(report.stoppedBecause?.contains("m.safetensors") == true, "\(String(describing: report.stoppedBecause))")
}

/// A stage that fails as a whole ends the run; the log names each later stage it cost.
@Test func stagesAfterAFailedOneAreLoggedAsNotRun() throws {
    let fixture = try BatchFixture(scenes: 1, size: 64)
    let text = """
        stages:
          - stage: predict
            model: bad.safetensors
            inputs: [scenes]
            out: maps
          - stage: evaluate
            predictions: maps
            truth: maps
        """
    let model = try Data(contentsOf: URL(fileURLWithPath: fixture.folder.file("m.safetensors")))
    try model.prefix(model.count / 2).write(to: URL(fileURLWithPath: fixture.folder.file("bad.safetensors")))
    try FileManager.default.createDirectory(atPath: fixture.folder.file("maps"), withIntermediateDirectories: true)
    let lines = LockedLines()
    let whole = try fixture.runner("two.yml", text, log: RunLog(level: .normal) { line, _ in lines.append(line) })
    #expect(throws: (any Error).self) { try whole.run() }
    #expect(lines.all.filter { $0.hasPrefix("evaluate: not run") } == ["evaluate: not run, as stage 'predict' failed"])
}

/// An evaluate stage logs its table a line at a time: the standard log escapes a newline inside
/// a line, which turned the whole table into one line of "\n"s.
@Test func anEvaluateStageLogsItsTableLineByLine() throws {
    let fixture = try BatchFixture(scenes: 2, size: 64)
    _ = try fixture.run()
    let lines = LockedLines()
    _ = try fixture.runner("e.yml", BatchFixture.evaluateMaps, log: RunLog(level: .normal) { line, _ in lines.append(line) }).run()
    let logged = lines.all
    #expect(logged.allSatisfy { !$0.contains("\n") }, "\(logged)")
    #expect(logged.contains { $0.hasPrefix("total over 2 scenes") }, "\(logged)")
}

/// One file reached through two inputs (its folder and itself, a link and its target) is one
/// scene, not a clash with itself that fails every night.
@Test func aSceneListedTwiceIsOneScene() throws {
    let fixture = try BatchFixture(scenes: 2, size: 64)
    try FileManager.default.createSymbolicLink(atPath: fixture.folder.file("latest"), withDestinationPath: fixture.folder.file("scenes"))
    let list = Predictor.sceneList([fixture.folder.file("scenes"), fixture.folder.file("scenes/s1.tif"), fixture.folder.file("latest")])
    #expect(list.scenes == [fixture.folder.file("scenes/s0.tif"), fixture.folder.file("scenes/s1.tif")])
    #expect(list.collisions.isEmpty)
}

/// A scene whose name is not UTF-8 fails with that reason, not "No such file or directory".
@Test func aSceneNameThatIsNotUTF8IsExplained() throws {
    let fixture = try BatchFixture(scenes: 1, size: 64)
    var bytes = Array(fixture.folder.file("scenes").utf8) + Array("/caf".utf8) + [0xE9] + Array(".tif".utf8)
    bytes.append(0)
    let fd = bytes.withUnsafeBufferPointer { $0.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_WRONLY | O_CREAT, 0o644) } }
    try #require(fd >= 0)
    close(fd)
    let report = try fixture.run()
    #expect(report.scenes(.done) == ["s0.tif"])
    let failed = try #require(report.scenes.first { $0.status == .failed })
    #expect(failed.error?.contains("its name is not valid UTF-8") == true, "\(String(describing: failed.error))")
}

/// Scenes with the same name in two input folders: the second is reported failed, and every
/// other scene is still predicted.
@Test func aNameClashFailsOnlyTheLaterScene() throws {
    let fixture = try BatchFixture(scenes: 2, size: 64)
    try FileManager.default.createDirectory(atPath: fixture.folder.file("more"), withIntermediateDirectories: true)
    try randomScene(fixture.folder.file("more/s1.tif"), width: 64, height: 64, seed: 7)
    try randomScene(fixture.folder.file("more/s9.tif"), width: 64, height: 64, seed: 8)
    var job = fixture.job()
    job.inputs.append(fixture.folder.file("more"))
    let report = try BatchPrediction(job: job).run(log: RunLog(level: .quiet) { _, _ in })
    #expect(report.scenes(.done) == ["s0.tif", "s1.tif", "s9.tif"])
    #expect(report.scenes(.failed) == [fixture.folder.file("more/s1.tif")])
    #expect(report.scenes.first { $0.status == .failed }?.error?.hasPrefix("its outputs would overwrite those of") == true)
}

/// A run over other inputs into the same folder keeps the records of the scenes it does not
/// see, so that the first run's scenes are still up to date afterwards.
@Test func runsOverOtherInputsKeepEachOthersRecords() throws {
    let fixture = try BatchFixture(scenes: 2, size: 64)
    #expect(try fixture.run().done == 2)
    try FileManager.default.createDirectory(atPath: fixture.folder.file("other"), withIntermediateDirectories: true)
    try randomScene(fixture.folder.file("other/t0.tif"), width: 64, height: 64, seed: 5)
    var other = fixture.job()
    other.inputs = [fixture.folder.file("other")]
    #expect(try BatchPrediction(job: other).run(log: RunLog(level: .quiet) { _, _ in }).done == 1)
    let again = try fixture.run()
    #expect(again.done == 0 && again.skipped == 2)
    #expect(try BatchPrediction(job: other).run(log: RunLog(level: .quiet) { _, _ in }).skipped == 1)
}

/// A predict stage whose inputs hold no scene succeeds, with a line even a quiet log prints.
@Test func inputsWithoutScenesAreSaidEvenQuietly() throws {
    let fixture = try BatchFixture(scenes: 0, size: 64)
    let lines = LockedLines()
    let report = try BatchPrediction(job: fixture.job()).run(log: RunLog(level: .quiet) { line, _ in lines.append(line) })
    #expect(report.scenes.isEmpty)
    #expect(lines.all == ["predict: no scenes in \(fixture.folder.file("scenes"))"])
}

/// segpipe predict shares the output folder's lock with other predicts but not with a run.
@Test func predictAndRunExcludeEachOtherFromAFolder() throws {
    let fixture = try BatchFixture(scenes: 1, size: 64)
    let maps = fixture.folder.file("maps")
    do {
        let predicting = try Predictor.lockOutputFolder(maps)
        let another = try Predictor.lockOutputFolder(maps)
        #expect(throws: RunLockBusy.self) { try fixture.run() }
        withExtendedLifetime((predicting, another)) {}
    }
    let run = try RunLock(path: maps + "/.segpipe.lock", mode: .exclusive)
    #expect(throws: RunLockBusy.self) { try Predictor.lockOutputFolder(maps) }
    withExtendedLifetime(run) {}
}

/// A manifest that cannot be read is said on the error stream; its scenes are predicted again.
@Test func anUnreadableManifestIsSaid() throws {
    let fixture = try BatchFixture(scenes: 1, size: 64)
    #expect(try fixture.run().done == 1)
    let manifest = fixture.folder.file("maps/segpipe-manifest.json")
    try "garbage".write(toFile: manifest, atomically: true, encoding: .utf8)
    let lines = LockedLines()
    let report = try BatchPrediction(job: fixture.job()).run(log: RunLog(level: .quiet) { line, _ in lines.append(line) })
    #expect(report.done == 1)
    #expect(lines.all == ["\(manifest): not a readable manifest; the scenes it recorded are predicted again"])
}

/// A dry run of a predict stage whose model an earlier stage trains says that retraining would
/// redo every scene.
@Test func aDryRunSaysAnEarlierTrainStageMayRedoEveryScene() throws {
    let fixture = try BatchFixture(scenes: 2, size: 64)
    _ = try fixture.run()
    try SampleDataset(sceneCount: 1, width: 64, height: 64, seed: 1).write(to: fixture.folder.path)
    let text = """
        stages:
          - stage: train
            images: images
            masks: masks
            out: m.safetensors
            tile-size: 64
            depth: 2
          - stage: predict
            model: m.safetensors
            inputs: [scenes]
            out: maps
        """
    try text.write(toFile: fixture.folder.file("t.yml"), atomically: true, encoding: .utf8)
    let lines = LockedLines()
    try PipelineRunner(file: PipelineFile.load(path: fixture.folder.file("t.yml")),
                       log: RunLog(level: .normal) { line, _ in lines.append(line) }).dryRun()
    #expect(lines.all.last == "predict: would predict 0 of 2 scenes with the current model; all 2 if stage 'train' changes it")
}

/// An output that something else wrote since the run made it (a `segpipe predict` with other
/// options into the folder, a copy) is redone: the manifest knows each output's size and time.
@Test func anOutputChangedSinceItWasMadeIsRedone() throws {
    let fixture = try BatchFixture(scenes: 2, size: 64)
    #expect(try fixture.run().done == 2)
    var options = fixture.job().options
    options.threshold = 0.9
    options.overlap = 8
    _ = try Predictor(options: options).predict(scene: fixture.folder.file("scenes/s1.tif"))
    let lines = LockedLines()
    let again = try BatchPrediction(job: fixture.job()).run(log: RunLog(level: .verbose) { line, _ in lines.append(line) })
    #expect(again.scenes(.done) == ["s1.tif"] && again.scenes(.skipped) == ["s0.tif"])
    #expect(lines.all.contains("to predict s1.tif (s1.png was changed since it was made)"))
    #expect(try fixture.run().done == 0)
}

/// Redone with fewer outputs (probabilities turned off), the outputs it no longer makes go: they
/// would be out of date beside the new map.
@Test func outputsARedoNoLongerMakesAreRemoved() throws {
    let fixture = try BatchFixture(scenes: 1, size: 64)
    var job = fixture.job()
    job.options.writeProbabilities = true
    _ = try BatchPrediction(job: job).run(log: RunLog(level: .quiet) { _, _ in })
    #expect(fixture.visibleFiles().contains("s0.prob.tif"))
    #expect(try fixture.run().done == 1)
    #expect(fixture.visibleFiles() == ["run-report.json", "s0.png", "segpipe-manifest.json"])
}

/// Two pipelines predicting different scenes of one name into one folder would overwrite each
/// other's outputs night after night: the second fails that scene, naming the first's input,
/// and leaves its outputs; the same content at a new path (a moved folder) is no clash.
@Test func anotherInputOfTheSameNameFailsInsteadOfOverwriting() throws {
    let fixture = try BatchFixture(scenes: 2, size: 64)
    #expect(try fixture.run().done == 2)
    let made = try Data(contentsOf: URL(fileURLWithPath: fixture.folder.file("maps/s0.png")))
    try FileManager.default.createDirectory(atPath: fixture.folder.file("other"), withIntermediateDirectories: true)
    try randomScene(fixture.folder.file("other/s0.tif"), width: 64, height: 64, seed: 555)
    var other = fixture.job()
    other.inputs = [fixture.folder.file("other")]
    let clash = try BatchPrediction(job: other).run(log: RunLog(level: .quiet) { _, _ in })
    #expect(clash.scenes(.failed) == ["s0.tif"])
    #expect(clash.scenes.first?.error?.hasPrefix("the outputs of s0.tif here were made from \(fixture.folder.file("scenes/s0.tif")), another file") == true)
    #expect(try Data(contentsOf: URL(fileURLWithPath: fixture.folder.file("maps/s0.png"))) == made)
    #expect(try fixture.run().skipped == 2)

    // A copy with the same content, predicted with other options (or another model), would also
    // take turns with the first pipeline: a clash too.
    try FileManager.default.removeItem(atPath: fixture.folder.file("other/s0.tif"))
    try FileManager.default.copyItem(atPath: fixture.folder.file("scenes/s0.tif"), toPath: fixture.folder.file("other/s0.tif"))
    other.options.threshold = 0.3
    #expect(try BatchPrediction(job: other).run(log: RunLog(level: .quiet) { _, _ in }).scenes(.failed) == ["s0.tif"])
    #expect(try Data(contentsOf: URL(fileURLWithPath: fixture.folder.file("maps/s0.png"))) == made)
    try FileManager.default.removeItem(atPath: fixture.folder.file("other"))

    // Another spelling of the same file (a linked folder) is no clash, also when its content changed.
    try FileManager.default.createSymbolicLink(atPath: fixture.folder.file("alias"), withDestinationPath: fixture.folder.file("scenes"))
    try randomScene(fixture.folder.file("scenes/s0.tif"), width: 64, height: 64, seed: 556)
    var alias = fixture.job()
    alias.inputs = [fixture.folder.file("alias")]
    #expect(try BatchPrediction(job: alias).run(log: RunLog(level: .quiet) { _, _ in }).scenes(.done) == ["s0.tif"])

    // A link re-pointed to another day's folder is the same input with new content: redone.
    try FileManager.default.createDirectory(atPath: fixture.folder.file("day2"), withIntermediateDirectories: true)
    try randomScene(fixture.folder.file("day2/s0.tif"), width: 64, height: 64, seed: 557)
    try FileManager.default.removeItem(atPath: fixture.folder.file("alias"))
    try FileManager.default.createSymbolicLink(atPath: fixture.folder.file("alias"), withDestinationPath: fixture.folder.file("day2"))
    #expect(try BatchPrediction(job: alias).run(log: RunLog(level: .quiet) { _, _ in }).scenes(.done) == ["s0.tif"])
    try FileManager.default.removeItem(atPath: fixture.folder.file("alias"))
    #expect(try fixture.run().scenes(.done) == ["s0.tif"])

    // Moved: the same content elsewhere is skipped and adopted; a later edit there is redone.
    try FileManager.default.moveItem(atPath: fixture.folder.file("scenes"), toPath: fixture.folder.file("moved"))
    var moved = fixture.job()
    moved.inputs = [fixture.folder.file("moved")]
    #expect(try BatchPrediction(job: moved).run(log: RunLog(level: .quiet) { _, _ in }).skipped == 2)
    try randomScene(fixture.folder.file("moved/s1.tif"), width: 64, height: 64, seed: 777)
    #expect(try BatchPrediction(job: moved).run(log: RunLog(level: .quiet) { _, _ in }).scenes(.done) == ["s1.tif"])
}

/// A scene whose output name would not fit the file system fails before it is predicted, not
/// after (it used to be predicted whole on every run, then refused at the rename).
@Test func anOutputNameTooLongFailsBeforePredicting() throws {
    let fixture = try BatchFixture(scenes: 1, size: 64)
    let long = String(repeating: "n", count: 250)
    try FileManager.default.copyItem(atPath: fixture.folder.file("scenes/s0.tif"), toPath: fixture.folder.file("scenes/\(long).tif"))
    var job = fixture.job()
    job.options.writeProbabilities = true
    let report = try BatchPrediction(job: job).run(log: RunLog(level: .quiet) { _, _ in })
    #expect(report.scenes(.done) == ["s0.tif"])
    let failed = try #require(report.scenes.first { $0.status == .failed })
    #expect(failed.error == "its output \(long).prob.tif would be a name longer than the file system's 255 bytes")
    #expect(failed.seconds == 0)
}
