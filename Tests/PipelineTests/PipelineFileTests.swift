import Foundation
import Testing
@testable import Pipeline

/// Writes `text` as `name` in `folder` and loads and checks it as a pipeline file.
private func loadPipeline(_ text: String, in folder: TemporaryDirectory, name: String = "p.yml") throws -> PipelineRunner {
    try text.write(toFile: folder.file(name), atomically: true, encoding: .utf8)
    return try PipelineRunner(file: PipelineFile.load(path: folder.file(name)), log: RunLog(level: .quiet) { _, _ in })
}

/// The error a pipeline file raises, as `file:line:column: message`.
private func problem(_ text: String, in folder: TemporaryDirectory) -> String {
    do {
        _ = try loadPipeline(text, in: folder)
        return "no error"
    } catch {
        return "\(error)".replacingOccurrences(of: folder.file("p.yml"), with: "p.yml")
    }
}

private func predictStage(model: String = "m.safetensors", extra: String = "") -> String {
    """
    stages:
      - stage: predict
        model: \(model)
        inputs: [scenes]
        out: maps
    \(extra)
    """
}

@Test func unknownKeyIsReportedAtItsLineAndColumn() throws {
    let folder = try TemporaryDirectory()
    try FileManager.default.createDirectory(atPath: folder.file("scenes"), withIntermediateDirectories: true)
    try SampleDataset(sceneCount: 1, width: 32, height: 32, seed: 1).write(to: folder.path)
    _ = try writeSmallModel(folder.file("m.safetensors"), tileSize: 64)
    let message = problem(predictStage(extra: "    overlapp: 16"), in: folder)
    #expect(message.hasPrefix("p.yml:6:5: unknown key 'overlapp'"))
    #expect(problem("stagez: []\n", in: folder) == "p.yml:1:1: unknown key 'stagez'; known keys: stages\n"
        + "p.yml:1:1: needs 'stages:', a list of train, predict and evaluate stages")
}

@Test func wrongTypeIsReportedAtTheValue() throws {
    let folder = try TemporaryDirectory()
    try FileManager.default.createDirectory(atPath: folder.file("scenes"), withIntermediateDirectories: true)
    try SampleDataset(sceneCount: 1, width: 32, height: 32, seed: 1).write(to: folder.path)
    _ = try writeSmallModel(folder.file("m.safetensors"), tileSize: 64)
    #expect(problem(predictStage(extra: "    overlap: lots"), in: folder)
        == "p.yml:6:14: 'overlap' must be a whole number, not 'lots'")
    #expect(problem(predictStage(extra: "    tta: maybe"), in: folder) == "p.yml:6:10: 'tta' must be true or false, not 'maybe'")
    #expect(problem(predictStage(extra: "    overlap: \"16\""), in: folder)
        == "p.yml:6:14: 'overlap' must be a whole number, not '16' (quoted, so YAML reads it as text; remove the quotes)")
    #expect(problem(predictStage(extra: "    tta: 'true'"), in: folder)
        == "p.yml:6:10: 'tta' must be true or false, not 'true' (quoted, so YAML reads it as text; remove the quotes)")
    #expect(problem(predictStage(extra: "    paint: [a]"), in: folder).hasPrefix("p.yml:6:12: 'paint' must be one of argmax, ordered"))
    #expect(problem(predictStage(extra: "    convolution: fft"), in: folder).hasPrefix("p.yml:6:18: 'convolution' must be one of direct, winograd, not 'fft'"))
    let train = """
        stages:
          - stage: train
            images: images
            masks: masks
            out: m2.safetensors
            epochs: 0
        """
    #expect(problem(train, in: folder) == "p.yml:6:13: 'epochs' must be at least 1")
}

@Test func missingFolderIsReportedAtThePath() throws {
    let folder = try TemporaryDirectory()
    _ = try writeSmallModel(folder.file("m.safetensors"), tileSize: 64)
    #expect(problem(predictStage(), in: folder) == "p.yml:4:13: 'inputs': no such file or folder \(folder.file("scenes"))")
    let evaluate = """
        stages:
          - stage: evaluate
            predictions: .
            truth: ../no-such-truth
        """
    #expect(problem(evaluate, in: folder).hasPrefix("p.yml:4:12: 'truth': no such folder"))
}

@Test func aModelNobodyMakesIsReported() throws {
    let folder = try TemporaryDirectory()
    try FileManager.default.createDirectory(atPath: folder.file("scenes"), withIntermediateDirectories: true)
    try SampleDataset(sceneCount: 1, width: 32, height: 32, seed: 1).write(to: folder.path)
    #expect(problem(predictStage(model: "models/m.safetensors"), in: folder).hasPrefix(
        "p.yml:3:12: 'model': \(folder.file("models/m.safetensors")) does not exist and no earlier train stage writes it"))
    // Made by an earlier train stage: accepted, and relative paths are resolved against the file's folder.
    let trained = """
        stages:
          - stage: train
            images: images
            masks: masks
            out: models/m.safetensors
          - stage: predict
            model: models/../models/m.safetensors
            inputs: scenes
            out: maps
        """
    let runner = try loadPipeline(trained, in: folder)
    guard case .predict(let job) = runner.stages[1].action else {
        Issue.record("the second stage is not predict")
        return
    }
    #expect(job.options.modelPath == folder.file("models/m.safetensors"))
    #expect(job.inputs == [folder.file("scenes")])
    // Selecting only the predict stage leaves nobody to make the model.
    #expect(throws: PipelineFileProblems.self) {
        try PipelineRunner(file: PipelineFile.load(path: folder.file("p.yml")), only: "predict", log: RunLog(level: .quiet) { _, _ in })
    }
}

@Test func shardedRunsRefuseWholeStagesAndShardsAreStableAndDisjoint() throws {
    let keys = (0..<300).map { "scene\($0).tif" }
    var owners = [Int](repeating: 0, count: keys.count)
    for index in 0..<3 {
        for (k, key) in keys.enumerated() where Shard(index: index, count: 3).contains(key) { owners[k] += 1 }
    }
    #expect(owners.allSatisfy { $0 == 1 })
    // FNV-1a is fixed: these assignments hold in every process.
    #expect(FNV1aHash.of("scene1.tif") == FNV1aHash.of("scene1.tif"))
    #expect(FNV1aHash.of("") == 0xcbf2_9ce4_8422_2325)
    #expect(FNV1aHash.of("a") == 0xaf63_dc4c_8601_ec8c)

    #expect(try Shard.resolve(argument: "1/4", count: nil, environment: [:]) == Shard(index: 1, count: 4))
    #expect(throws: PipelineError.self) { try Shard.resolve(argument: "4/4", count: nil, environment: [:]) }
    #expect(try Shard.resolve(argument: nil, count: nil,
                              environment: ["SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "1"])
        == Shard(index: 2, count: 3))
    // An array 0-14:2 has 8 tasks, 0, 2, ..., 14.
    let stepped = ["SLURM_ARRAY_TASK_COUNT": "8", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_STEP": "2"]
    #expect(try Shard.resolve(argument: nil, count: nil, environment: stepped.merging(["SLURM_ARRAY_TASK_ID": "14"]) { $1 })
        == Shard(index: 7, count: 8))
    #expect(throws: PipelineError.self) {
        try Shard.resolve(argument: nil, count: nil, environment: stepped.merging(["SLURM_ARRAY_TASK_ID": "3"]) { $1 })
    }
    #expect(throws: PipelineError(path: "", reason: "--shard 0/1 and --shard-count 2 disagree; give one of them")) {
        try Shard.resolve(argument: "0/1", count: 2, environment: [:])
    }
    #expect(try Shard.resolve(argument: nil, count: 5, environment: ["JOB_COMPLETION_INDEX": "4"]) == Shard(index: 4, count: 5))
    #expect(throws: PipelineError.self) { try Shard.resolve(argument: nil, count: nil, environment: ["JOB_COMPLETION_INDEX": "4"]) }
    #expect(try Shard.resolve(argument: nil, count: nil, environment: [:]) == .whole)
}

@Test func twoPredictStagesCannotShareAnOutputFolder() throws {
    let folder = try TemporaryDirectory()
    _ = try writeSmallModel(folder.file("m.safetensors"), tileSize: 64)
    try FileManager.default.createDirectory(atPath: folder.file("scenes"), withIntermediateDirectories: true)
    try SampleDataset(sceneCount: 1, width: 32, height: 32, seed: 1).write(to: folder.path)
    let text = predictStage() + """
          - stage: predict
            name: again
            model: m.safetensors
            inputs: [scenes]
            out: ./maps
        """
    #expect(problem(text, in: folder) == "p.yml:10:10: 'out': the predict stage 'predict' writes to \(folder.file("maps")) too; "
        + "give each predict stage its own folder (their manifests and reports would overwrite each other)")
}

@Test func aMissingPipelineFileOrAFolderIsNamedAsSuch() throws {
    let folder = try TemporaryDirectory()
    #expect(throws: PipelineFileProblems(PipelineFileError(path: folder.file("none.yml"), line: 0, column: 0, message: "no such file"))) {
        try PipelineFile.load(path: folder.file("none.yml"))
    }
    #expect(throws: PipelineFileProblems(PipelineFileError(path: folder.path, line: 0, column: 0, message: "is a folder, not a pipeline file"))) {
        try PipelineFile.load(path: folder.path)
    }
    try #require(mkfifo(folder.file("fifo.yml"), 0o644) == 0)
    #expect(throws: PipelineFileProblems(PipelineFileError(path: folder.file("fifo.yml"), line: 0, column: 0,
                                                           message: "is a FIFO (named pipe), not a pipeline file; segpipe reads only regular files"))) {
        try PipelineFile.load(path: folder.file("fifo.yml"))
    }
}

/// Bytes YAML may not hold are placed by line and column in one line, without the source line
/// and caret that Yams appends.
@Test func controlCharactersArePlacedInOneLine() throws {
    let folder = try TemporaryDirectory()
    try "stages:\n  - stage: evaluate\u{0}\n".write(toFile: folder.file("p.yml"), atomically: true, encoding: .utf8)
    let error = #expect(throws: PipelineFileProblems.self) { try PipelineFile.load(path: folder.file("p.yml")) }
    #expect(error?.lines.count == 1)
    #expect(error?.lines.first?.hasPrefix("\(folder.file("p.yml")):2:20: YAML: ") == true, "\(String(describing: error?.lines))")
}

/// Paths a stage will write, and legends it will read, are checked with the file, before any
/// stage runs.
@Test func outputsInTheWayAndBadLegendsAreFoundBeforeAnythingRuns() throws {
    let folder = try TemporaryDirectory()
    _ = try writeSmallModel(folder.file("m.safetensors"), tileSize: 64)
    try FileManager.default.createDirectory(atPath: folder.file("scenes"), withIntermediateDirectories: true)
    try SampleDataset(sceneCount: 1, width: 32, height: 32, seed: 1).write(to: folder.path)
    _ = FileManager.default.createFile(atPath: folder.file("afile"), contents: Data("x".utf8))
    try "classes: [oops".write(toFile: folder.file("legend.yml"), atomically: true, encoding: .utf8)
    let predictIntoAFile = predictStage().replacingOccurrences(of: "out: maps", with: "out: afile")
    #expect(problem(predictIntoAFile, in: folder) == "p.yml:5:10: 'out': \(folder.file("afile")) is a file, not a folder")
    let evaluate = """
        stages:
          - stage: evaluate
            predictions: scenes
            truth: scenes
            report: afile/report.json
        """
    #expect(problem(evaluate, in: folder) == "p.yml:5:13: 'report': \(folder.file("afile")) is a file, so \(folder.file("afile/report.json")) cannot be made")
    let badLegend = evaluate.replacingOccurrences(of: "report: afile/report.json", with: "legend: legend.yml")
    #expect(problem(badLegend, in: folder).hasPrefix("p.yml:5:13: 'legend': "))
    let trainIntoAFolder = """
        stages:
          - stage: train
            images: images
            masks: masks
            out: scenes
        """
    #expect(problem(trainIntoAFolder, in: folder) == "p.yml:5:10: 'out': \(folder.file("scenes")) is a folder, not a file")
}

/// An overlap is checked against the tiles of the model a train stage will make, and a link to
/// another predict stage's folder is that folder.
@Test func overlapsAndLinkedOutputFoldersAreCheckedUpFront() throws {
    let folder = try TemporaryDirectory()
    try FileManager.default.createDirectory(atPath: folder.file("scenes"), withIntermediateDirectories: true)
    try SampleDataset(sceneCount: 1, width: 32, height: 32, seed: 1).write(to: folder.path)
    let trainThenPredict = """
        stages:
          - stage: train
            images: images
            masks: masks
            out: m.safetensors
            tile-size: 32
            depth: 2
          - stage: predict
            model: m.safetensors
            inputs: [scenes]
            out: maps
            overlap: 100
        """
    #expect(problem(trainThenPredict, in: folder)
        == "p.yml:12:14: 'overlap' 100 must be at most half the tile size (16) and leave a step that is a multiple of 4")
    _ = try writeSmallModel(folder.file("m.safetensors"), tileSize: 64)
    try FileManager.default.createDirectory(atPath: folder.file("maps"), withIntermediateDirectories: true)
    try FileManager.default.createSymbolicLink(atPath: folder.file("link"), withDestinationPath: folder.file("maps"))
    let linked = predictStage() + """
          - stage: predict
            name: again
            model: m.safetensors
            inputs: [scenes]
            out: link
        """
    #expect(problem(linked, in: folder).hasPrefix("p.yml:10:10: 'out': the predict stage 'predict' writes to "))
}

/// A report written into a predict stage's folder, and a dangling link to a folder a stage will
/// create, are caught with the file.
@Test func reportsInPredictFoldersAndDanglingLinksAreRefused() throws {
    let folder = try TemporaryDirectory()
    _ = try writeSmallModel(folder.file("m.safetensors"), tileSize: 64)
    try FileManager.default.createDirectory(atPath: folder.file("scenes"), withIntermediateDirectories: true)
    try SampleDataset(sceneCount: 1, width: 32, height: 32, seed: 1).write(to: folder.path)
    let report = predictStage() + """
          - stage: evaluate
            predictions: maps
            truth: scenes
            report: maps/segpipe-manifest.json
        """
    #expect(problem(report, in: folder).hasPrefix("p.yml:9:13: 'report': \(folder.file("maps/segpipe-manifest.json")) is in the output folder of the predict stage 'predict'"))
    try FileManager.default.createSymbolicLink(atPath: folder.file("dangling"), withDestinationPath: "maps")
    let linked = predictStage() + """
          - stage: predict
            name: again
            model: m.safetensors
            inputs: [scenes]
            out: dangling
        """
    #expect(problem(linked, in: folder).hasPrefix("p.yml:10:10: 'out': the predict stage 'predict' writes to "))
}

/// Every problem of a file is reported in one run, in the file's order, so a user fixes them all
/// at once: wrong types, unknown and missing keys across stages, and then the file system's.
@Test func everyProblemOfAFileIsReportedAtOnce() throws {
    let folder = try TemporaryDirectory()
    let text = """
        stages:
          - stage: train
            images: images
            masks: masks
            out: m.safetensors
            epochs: lots
            dropout: 2
            colour: red
          - stage: predict
            model: m.safetensors
            out: maps
            tta: [yes]
          - stage: sing
        """
    #expect(problem(text, in: folder).split(separator: "\n").map(String.init) == [
        "p.yml:6:13: 'epochs' must be a whole number, not 'lots'",
        "p.yml:7:14: 'dropout' must be in [0, 1) (got 2.0)",
        "p.yml:8:5: unknown key 'colour'; known keys: batch-size, class-weights, convolution, depth, dropout, epochs, filters, "
            + "growth-factor, images, learning-rate, legend, loader-threads, mask-suffix, masks, name, normalization, out, "
            + "oversample-rare, precision, resume, seed, stage, steps-per-epoch, tile-size, upsampling, validation-fraction, "
            + "validation-scenes",
        "p.yml:9:5: a predict stage needs 'inputs' (scene files or folders)",
        "p.yml:12:10: 'tta' must be true or false, not a list",
        "p.yml:13:12: 'stage' must be one of train, predict, evaluate, not 'sing'",
    ])

    // A bad value is read as the default; checks across keys would judge that default.
    let network = """
        stages:
          - stage: train
            images: scenes
            masks: scenes
            out: m.safetensors
            tile-size: big
            depth: 6
            dropout: 1.5
        """
    #expect(problem(network, in: folder).split(separator: "\n").map(String.init) == [
        "p.yml:6:16: 'tile-size' must be a whole number, not 'big'",
        "p.yml:8:14: 'dropout' must be in [0, 1) (got 1.5)",
    ])

    let wellFormed = """
        stages:
          - stage: train
            images: scenes
            masks: labels
            out: m.safetensors
          - stage: evaluate
            predictions: maps
            truth: truth
        """
    #expect(problem(wellFormed, in: folder).split(separator: "\n").map(String.init) == [
        "p.yml:3:13: 'images': no such folder \(folder.file("scenes"))",
        "p.yml:4:12: 'masks': no such folder \(folder.file("labels"))",
        "p.yml:7:18: 'predictions': no such folder \(folder.file("maps"))",
        "p.yml:8:12: 'truth': no such folder \(folder.file("truth"))",
    ])

    let many = "stages:\n  - stage: evaluate\n    predictions: p\n    truth: t\n" + (1...30).map { "    extra\($0): 1\n" }.joined()
    let lines = problem(many, in: folder).split(separator: "\n").map(String.init)
    #expect(lines.count == PipelineFileProblems.limit + 1)
    #expect(lines.first?.hasPrefix("p.yml:5:5: unknown key 'extra1'") == true)
    #expect(lines.last == "p.yml: and 10 more problems")
}

/// What the scenes' and masks' headers already show is found by the check, so that a dry run
/// does not pass a train stage that would fail at once: unpaired masks, unknown held-out scenes,
/// class weights for another number of classes.
@Test func aTrainStageThatWouldFailAtOnceFailsTheCheck() throws {
    let folder = try TemporaryDirectory()
    try SampleDataset(sceneCount: 2, width: 32, height: 32, seed: 1).write(to: folder.path)
    let text = """
        stages:
          - stage: train
            images: images
            masks: masks
            out: m.safetensors
            mask-suffix: _mask
            validation-scenes: [scene7]
            class-weights: [1, 2]
        """
    #expect(problem(text, in: folder).split(separator: "\n").map(String.init) == [
        "p.yml:4:12: \(folder.file("images/scene1.tif")): no mask scene1_mask.png, .tif or .tiff in \(folder.file("masks"))",
        "p.yml:4:12: \(folder.file("images/scene2.tif")): no mask scene2_mask.png, .tif or .tiff in \(folder.file("masks"))",
        "p.yml:8:20: 'class-weights' has 2 entries for the legend's 5 classes",
    ])
    let allHeldOut = text.replacingOccurrences(of: "    mask-suffix: _mask\n", with: "")
        .replacingOccurrences(of: "[scene7]", with: "[scene1, scene2]").replacingOccurrences(of: "[1, 2]", with: "[1, 1, 1, 1, 1]")
    #expect(problem(allHeldOut, in: folder) == "p.yml:6:24: 'validation-scenes' holds out every scene; none is left to train on")
    let fixed = text.replacingOccurrences(of: "    mask-suffix: _mask\n", with: "")
    #expect(problem(fixed, in: folder).split(separator: "\n").map(String.init) == [
        "p.yml:6:24: 'validation-scenes': 'scene7' is not a scene in \(folder.file("images"))",
        "p.yml:7:20: 'class-weights' has 2 entries for the legend's 5 classes",
    ])
}

/// A check that finds more than the limit says how many more there are, through the runner too.
@Test func aCheckWithManyProblemsSaysHowManyMore() throws {
    let folder = try TemporaryDirectory()
    let stages = (1...25).map { "  - stage: evaluate\n    name: e\($0)\n    predictions: p\($0)\n    truth: t\($0)\n" }.joined()
    let lines = problem("stages:\n" + stages, in: folder).split(separator: "\n").map(String.init)
    #expect(lines.count == PipelineFileProblems.limit + 1)
    #expect(lines.last == "p.yml: and 30 more problems")
}

/// A train stage's seed reaches 2^64 − 1, as `--seed` does; a quoted or negative one is refused.
@Test func aSeedSpansUInt64() throws {
    let folder = try TemporaryDirectory()
    func stage(_ seed: String) throws -> PipelineFile {
        try "stages:\n  - stage: train\n    images: i\n    masks: m\n    out: o.safetensors\n    seed: \(seed)\n"
            .write(toFile: folder.file("p.yml"), atomically: true, encoding: .utf8)
        return try PipelineFile.load(path: folder.file("p.yml"))
    }
    guard case .train(let options) = try stage("18446744073709551615").stages[0].action else {
        Issue.record("not a train stage")
        return
    }
    #expect(options.seed == UInt64.max)
    guard case .train(let octal) = try stage("010").stages[0].action else { return }
    #expect(octal.seed == 8, "as YAML reads 010 for every other whole number")
    #expect(throws: PipelineFileProblems.self) { try stage("-1") }
    #expect(throws: PipelineFileProblems.self) { try stage("\"7\"") }
}
