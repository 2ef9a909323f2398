import Foundation
import Raster
import Testing
@testable import Pipeline

/// These run the built `segpipe` executable (built with the tests by `swift test`), because what
/// they check — locks between processes, SIGKILL, shards as separate processes — needs processes.
@Suite(.serialized) struct BatchProcessTests {
    let segpipe: String

    init() throws {
        segpipe = try #require(segpipeExecutable(), "segpipe is not built; run `swift build` first")
    }

    @Test func aSecondConcurrentRunExits75NamingTheHolder() throws {
        let fixture = try BatchFixture(scenes: 1, size: 64)
        try FileManager.default.createDirectory(atPath: fixture.folder.file("maps"), withIntermediateDirectories: true)
        let held = try RunLock(path: fixture.folder.file("maps/.segpipe.lock"), mode: .exclusive)
        let (status, text) = try SegpipeProcess(segpipe, ["run", fixture.folder.file("p.yml")], in: fixture.folder).finish()
        #expect(status == 75)
        #expect(text.contains("PID \(getpid())"))
        withExtendedLifetime(held) {}
    }

    @Test func aCorruptSceneExits1AndTheReportListsIt() throws {
        let fixture = try BatchFixture(scenes: 2, size: 64)
        try Data(repeating: 0x49, count: 300).write(to: URL(fileURLWithPath: fixture.folder.file("scenes/bad.tif")))
        let (status, text) = try SegpipeProcess(segpipe, ["run", fixture.folder.file("p.yml")], in: fixture.folder).finish()
        #expect(status == 1)
        #expect(text.contains("failed   bad.tif"))
        let report = try RunReport.read(fixture.folder.file("maps/run-report.json"))
        #expect(report.scenes(.failed) == ["bad.tif"])
        #expect(report.scenes(.done) == fixture.sceneKeys)
    }

    @Test func aRunKilledMidwayLeavesNoPartialFileAndTheNextCompletesWhatIsMissing() throws {
        let fixture = try BatchFixture(scenes: 6, size: 160)
        let running = try SegpipeProcess(segpipe, ["run", fixture.folder.file("p.yml")], in: fixture.folder)
        let deadline = Date(timeIntervalSinceNow: 60)
        while !fixture.visibleFiles().contains(where: { $0.hasSuffix(".png") }) && Date() < deadline && running.process.isRunning {
            usleep(2_000)
        }
        kill(running.process.processIdentifier, SIGKILL)
        let (status, _) = running.finish()
        #expect(status == SIGKILL)

        // Every visible file is whole: the PNGs decode completely, the JSON files parse.
        let visible = fixture.visibleFiles()
        let maps = visible.filter { $0.hasSuffix(".png") }
        #expect(!maps.isEmpty && maps.count < fixture.count, "the kill should land mid-run: \(visible)")
        for name in maps {
            let reader = try PNGReader(path: fixture.folder.file("maps/\(name)"))
            _ = try reader.readRows(reader.info.height)
        }
        let manifest = SceneManifest.merged(in: fixture.folder.file("maps"))
        for name in visible where name.hasSuffix(".json") {
            #expect((try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fixture.folder.file("maps/\(name)"))))) != nil)
        }

        let (again, text) = try SegpipeProcess(segpipe, ["run", fixture.folder.file("p.yml")], in: fixture.folder).finish()
        #expect(again == 0, "\(text)")
        let report = try RunReport.read(fixture.folder.file("maps/run-report.json"))
        #expect(report.scenes(.skipped) == Set(manifest.records.keys))
        #expect(report.scenes(.done) == fixture.sceneKeys.subtracting(manifest.records.keys))
        #expect(fixture.visibleFiles().filter { $0.hasSuffix(".png") }.count == fixture.count)
        // No temporary file of the killed run is left.
        let hidden = ((try? FileManager.default.contentsOfDirectory(atPath: fixture.folder.file("maps"))) ?? []).filter { $0.hasPrefix(".") }
        #expect(hidden.allSatisfy { $0.hasSuffix(".lock") }, "\(hidden)")
    }

    /// Closed standard streams, a full disk behind the log and a reader that went away cost the
    /// log, not the run: every map is whole (log lines once landed in a map that took descriptor
    /// 2's number) and the exit status is the run's.
    @Test func closedFullAndBrokenLogStreamsLeaveTheRunIntact() throws {
        let fixture = try BatchFixture(scenes: 3, size: 64)
        try Data(repeating: 0x49, count: 300).write(to: URL(fileURLWithPath: fixture.folder.file("scenes/bad.tif")))
        let p = fixture.folder.file("p.yml")
        let cases: [(String, Int32)] = [
            ("exec \"$0\" run \"$1\" >&- 2>&-", 1),
            ("exec \"$0\" run \"$1\" >/dev/full 2>/dev/full", 1),
            ("\"$0\" run \"$1\" 2>&1 | head -c 1 >/dev/null; exit ${PIPESTATUS[0]}", 1),
        ]
        for (script, expected) in cases {
            try? FileManager.default.removeItem(atPath: fixture.folder.file("maps"))
            let (status, text) = try SegpipeProcess("/bin/bash", ["-c", script, segpipe, p], in: fixture.folder).finish()
            #expect(status == expected, "\(script): \(text)")
            for i in 0..<fixture.count {
                let map = fixture.folder.file("maps/s\(i).png")
                #expect((try? PNGReader(path: map))?.info.width == 64, "\(script): \(map)")
            }
            #expect(fixture.visibleFiles("maps").filter { $0.hasSuffix(".png") }.count == fixture.count, "\(script)")
            #expect(try RunReport.read(fixture.folder.file("maps/run-report.json")).scenes(.done) == fixture.sceneKeys, "\(script)")
        }
    }

    /// Where standard output is the product (inspect, evaluate), losing it to a full disk fails
    /// the command, unlike a log line.
    @Test func aProductLostToAFullDiskFailsTheCommand() throws {
        let fixture = try BatchFixture(scenes: 1, size: 64)
        let scene = fixture.folder.file("scenes/s0.tif")
        let (status, text) = try SegpipeProcess("/bin/bash", ["-c", "exec \"$0\" inspect --json --stats \"$1\" >/dev/full", segpipe, scene],
                                                in: fixture.folder).finish()
        #expect(status == 1, "\(text)")
        #expect(text.hasPrefix("segpipe: cannot write the standard output"), "\(text)")
        let (ok, _) = try SegpipeProcess("/bin/bash", ["-c", "exec \"$0\" inspect --json \"$1\" >/dev/null", segpipe, scene],
                                         in: fixture.folder).finish()
        #expect(ok == 0)
    }

    /// A negative number after an option is its value, checked by segpipe, not a missing value.
    @Test func negativeOptionValuesReachSegpipesOwnChecks() throws {
        let fixture = try BatchFixture(scenes: 1, size: 64)
        let cases: [([String], String)] = [
            (["run", fixture.folder.file("p.yml"), "--shard", "-1/2"], "the shard index must be from 0"),
            (["train", "--images", "i", "--masks", "m", "--out", fixture.folder.file("t.safetensors"), "--epochs", "-3"],
             "--epochs must be at least 1"),
            (["predict", "--model", fixture.folder.file("m.safetensors"), "--out", fixture.folder.file("o"),
              "--overlap", "-5", fixture.folder.file("scenes")], "--overlap must not be negative"),
        ]
        for (arguments, message) in cases {
            let (status, text) = try SegpipeProcess(segpipe, arguments, in: fixture.folder).finish()
            #expect(status == 2, "\(arguments): \(text)")
            #expect(text.contains(message), "\(arguments): \(text)")
        }
    }

    @Test func anAbsurdOMPThreadCountIsRefusedNotACrash() throws {
        let fixture = try BatchFixture(scenes: 2, size: 64)
        for arguments in [["bench", "--steps", "1", "--warm-up", "0", "--batch-size", "1"], ["run", fixture.folder.file("p.yml")]] {
            let (status, text) = try SegpipeProcess(segpipe, arguments, in: fixture.folder, environment: ["OMP_NUM_THREADS": "100000"]).finish()
            #expect(status == 1, "\(arguments): \(text)")
            #expect(text.contains("OMP_NUM_THREADS asks for 100000 threads"), "\(arguments): \(text)")
            #expect(!text.contains("crashed"), "\(arguments): \(text)")
        }
    }

    @Test func aFileNameWithANewlineOrEscapeStaysOnOneLine() throws {
        let fixture = try BatchFixture(scenes: 1, size: 64)
        let name = "bad\nname\u{1B}[2J.tif"
        try Data(repeating: 0x49, count: 300).write(to: URL(fileURLWithPath: fixture.folder.file("scenes/" + name)))
        let escaped = #"bad\nname\u{1B}[2J.tif"#
        let runs = [
            ["predict", "--model", fixture.folder.file("m.safetensors"), "--out", fixture.folder.file("o"), fixture.folder.file("scenes")],
            ["run", fixture.folder.file("p.yml")],
            ["inspect", fixture.folder.file("scenes/" + name)],
        ]
        for arguments in runs {
            let (status, text) = try SegpipeProcess(segpipe, arguments, in: fixture.folder).finish()
            #expect(status == 1, "\(arguments): \(text)")
            #expect(text.contains(escaped), "\(arguments): \(text)")
            #expect(!text.contains("\u{1B}[2J"), "\(arguments): \(text)")
            for line in text.split(separator: "\n") where line.contains("name") {
                #expect(line.contains(escaped), "\(arguments): a line split from its file name: \(line)")
            }
        }
    }

    @Test func aFileSizeLimitFailsTheWriteWithItsReasonInsteadOfKillingSegpipe() throws {
        let folder = try TemporaryDirectory()
        let (status, text) = try SegpipeProcess("/bin/sh", ["-c", #"ulimit -f 200 && exec "$0" sample-data --out "$1""#, segpipe, folder.file("data")],
                                                in: folder).finish()
        #expect(status == 1, "\(text)")
        #expect(text.contains("scene1.tif: cannot write") && text.contains("(File too large)"), "\(text)")
    }

    @Test func validationSceneNamesMayHaveSpacesAfterTheirCommas() throws {
        let folder = try TemporaryDirectory()
        try SampleDataset(sceneCount: 3, width: 32, height: 32, seed: 4).write(to: folder.path)
        let (status, text) = try SegpipeProcess(segpipe, [
            "train", "--images", folder.file("images"), "--masks", folder.file("masks"), "--out", folder.file("m.safetensors"),
            "--validation-scenes", "scene2, scene3", "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "1",
            "--tile-size", "32", "--depth", "1", "--filters", "8",
        ], in: folder).finish()
        #expect(status == 0, "\(text)")
        #expect(text.contains("training on 3 scenes"), "\(text)")
    }

    /// Reader caches share the limit on open files: with a low one and several loader threads,
    /// training used to run out of descriptors and trap inside libdispatch.
    @Test func trainingStaysWithinALowOpenFileLimit() throws {
        #expect(ReaderCache.capacity(sharedBy: 4, openFileLimit: 64) == 4)
        #expect(ReaderCache.capacity(sharedBy: 2, openFileLimit: 1024) == 32)
        #expect(ReaderCache.capacity(sharedBy: 8, openFileLimit: 40) == 1)
        let folder = try TemporaryDirectory()
        try SampleDataset(sceneCount: 60, width: 32, height: 32, seed: 4).write(to: folder.path)
        let (status, text) = try SegpipeProcess("/bin/sh", [
            "-c", #"ulimit -n 40 && exec "$0" train --images "$1/images" --masks "$1/masks" --out "$1/m.safetensors" "#
                + "--epochs 1 --steps-per-epoch 30 --batch-size 2 --tile-size 32 --depth 1 --filters 8 --loader-threads 3",
            segpipe, folder.path,
        ], in: folder).finish()
        #expect(status == 0, "\(text)")
    }

    @Test func threeShardsAsProcessesMakeExactlyTheOutputsOfOneRun() throws {
        let fixture = try BatchFixture(scenes: 9, size: 64)
        let shards = try (0..<3).map { index in
            try SegpipeProcess(segpipe, ["run", fixture.folder.file("p.yml"), "--shard", "\(index)/3", "--quiet"], in: fixture.folder)
        }
        for shard in shards {
            let (status, text) = shard.finish()
            #expect(status == 0, "\(text)")
        }
        try fixture.writePipeline(out: "whole")
        let (status, text) = try SegpipeProcess(segpipe, ["run", fixture.folder.file("p.yml")], in: fixture.folder,
                                                environment: ["SLURM_ARRAY_TASK_ID": "1"]).finish()
        #expect(status == 2, "a Slurm task id without a count is refused: \(text)")
        #expect(try SegpipeProcess(segpipe, ["run", fixture.folder.file("p.yml")], in: fixture.folder).finish().status == 0)

        let sharded = fixture.visibleFiles("maps").filter { $0.hasSuffix(".png") }
        let whole = fixture.visibleFiles("whole").filter { $0.hasSuffix(".png") }
        #expect(sharded.count == fixture.count && sharded == whole)
        for name in whole {
            #expect(FileManager.default.contentsEqual(atPath: fixture.folder.file("maps/\(name)"), andPath: fixture.folder.file("whole/\(name)")))
        }
        // Per-shard manifests merge to a record of every scene; an unsharded rerun does nothing.
        #expect(Set(SceneManifest.merged(in: fixture.folder.file("maps")).records.keys) == fixture.sceneKeys)
        #expect(fixture.visibleFiles("maps").filter { $0.hasPrefix("run-report-shard-") }.count == 3)
        try fixture.writePipeline(out: "maps")
        let (rerun, rerunText) = try SegpipeProcess(segpipe, ["run", fixture.folder.file("p.yml")], in: fixture.folder).finish()
        #expect(rerun == 0 && rerunText.contains("nothing to do"), "\(rerunText)")
    }
}
