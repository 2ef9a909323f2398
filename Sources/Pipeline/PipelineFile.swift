import Foundation
import Raster
import UNet
import Yams

/// A pipeline file (`pipelines/*.yml`): stages run in order, each with the options of the
/// command it stands for, spelled as that command's long options.
///
///     stages:
///       - stage: train
///         images: ../data/images
///         masks: ../data/masks
///         out: ../models/model.safetensors
///         epochs: 10
///       - stage: predict
///         model: ../models/model.safetensors
///         inputs: [../data/new]
///         out: ../maps
///
/// Relative paths are relative to the file's folder. `load` checks keys and types; `check`
/// checks the file system; both throw `PipelineFileProblems`, every problem they find with its
/// line and column.
public struct PipelineFile: Sendable {
    public var path: String
    public var stages: [PipelineStage]

    static let trainKeys: Set<String> = [
        "images", "masks", "out", "mask-suffix", "legend", "epochs", "steps-per-epoch", "batch-size",
        "learning-rate", "class-weights", "tile-size", "depth", "filters", "growth-factor", "upsampling",
        "dropout", "precision", "convolution", "seed", "normalization", "validation-fraction", "validation-scenes",
        "oversample-rare", "loader-threads", "resume",
    ]

    /// Parses and type-checks the file; throws `PipelineFileProblems` with every problem found.
    public static func load(path: String) throws(PipelineFileProblems) -> PipelineFile {
        func whole(_ message: String) -> PipelineFileProblems {
            PipelineFileProblems(PipelineFileError(path: path, line: 0, column: 0, message: message))
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw whole("no such file") }
        if isDirectory.boolValue { throw whole("is a folder, not a pipeline file") }
        if let problem = RegularFile.problem(path, noun: "a pipeline file") { throw whole(problem) }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw whole("cannot be read as UTF-8 text")
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw PipelineFileProblems(syntaxError(error, path: path))
        } catch {
            throw whole("YAML: \(error)")
        }
        guard let root else { throw whole("is empty; it needs a list of stages") }
        let base = (URL(fileURLWithPath: path).standardizedFileURL.path as NSString).deletingLastPathComponent
        var top: YAMLMappingReader
        do {
            top = try YAMLMappingReader(root, file: path, base: base, what: "a pipeline file")
        } catch {
            throw PipelineFileProblems(error)
        }
        let stagesEntry = top.node("stages")
        top.rejectUnknownKeys(known: "stages")
        var problems = top.problems
        var stages: [PipelineStage] = []
        if let (stagesNode, stagesAt) = stagesEntry {
            if let list = stagesNode.sequence, !list.isEmpty {
                for node in list {
                    guard let stage = parseStage(node, file: path, base: base, problems: &problems) else { continue }
                    if let earlier = stages.first(where: { $0.name == stage.name }) {
                        problems.append(PipelineFileError(path: path, at: stage.position,
                                                          "a stage named '\(stage.name)' already exists at line \(earlier.position.line); give one a different 'name'"))
                    }
                    stages.append(stage)
                }
            } else {
                problems.append(PipelineFileError(path: path, at: stagesAt, "'stages' must be a non-empty list of stages"))
            }
        } else {
            problems.append(PipelineFileError(path: path, at: top.position, "needs 'stages:', a list of train, predict and evaluate stages"))
        }
        if let found = PipelineFileProblems(problems) { throw found }
        return PipelineFile(path: path, stages: stages)
    }

    static func syntaxError(_ error: YamlError, path: String) -> PipelineFileError {
        switch error {
        case let .scanner(_, problem, mark, _), let .parser(_, problem, mark, _), let .composer(_, problem, mark, _):
            return PipelineFileError(path: path, line: mark.line, column: mark.column, message: "YAML: \(problem)")
        case let .reader(problem, offset, _, yaml):
            // Bytes YAML may not hold (NUL, other control characters): the line and column of
            // the offset, and the problem alone, so the message stays one line.
            let before = offset.map { String(yaml.unicodeScalars.prefix($0)) } ?? ""
            let line = before.split(separator: "\n", omittingEmptySubsequences: false).count
            let column = (before.split(separator: "\n", omittingEmptySubsequences: false).last?.unicodeScalars.count ?? 0) + 1
            return PipelineFileError(path: path, line: line, column: column, message: "YAML: \(problem)")
        case let .duplicatedKeysInMapping(duplicates, context):
            return PipelineFileError(path: path, line: context.mark.line, column: context.mark.column,
                                     message: "'\(duplicates.joined(separator: "', '"))' is given twice")
        default:
            return PipelineFileError(path: path, line: 0, column: 0, message: "YAML: \(error)")
        }
    }

    /// The stage `node` describes, or nil with what is wrong with it added to `problems`.
    static func parseStage(_ node: Node, file: String, base: String, problems: inout [PipelineFileError]) -> PipelineStage? {
        var fields: YAMLMappingReader
        do {
            fields = try YAMLMappingReader(node, file: file, base: base, what: "a stage")
        } catch {
            problems.append(error)
            return nil
        }
        let kind = fields.choice("stage", PipelineStage.Kind.self, PipelineStage.Kind.allCases)
        if kind == nil && !fields.contains("stage") {
            fields.report(fields.position, "a stage needs 'stage:' (train, predict or evaluate)")
        }
        let name = fields.string("name") ?? kind?.rawValue ?? ""
        func required(_ key: String) -> String {
            if let value = fields.path(key) { return value }
            if !fields.contains(key), let kind { fields.report(fields.position, "a \(kind.rawValue) stage needs '\(key)'") }
            return ""
        }
        var action: PipelineStage.Action?
        switch kind {
        case .train:
            var options = TrainingOptions(images: required("images"), masks: required("masks"), output: required("out"))
            parseTraining(&fields, into: &options)
            action = .train(options)
        case .predict:
            var options = PredictionOptions(modelPath: required("model"), outputDirectory: required("out"))
            let inputs = fields.list("inputs", "a path", { $0.string.isEmpty ? nil : $0.string })
            if !fields.contains("inputs") {
                fields.report(fields.position, "a predict stage needs 'inputs' (scene files or folders)")
            }
            options.overlap = fields.int("overlap")
            options.testTimeAugmentation = fields.bool("tta") ?? false
            options.writeProbabilities = fields.bool("probabilities") ?? false
            if let threshold = fields.double("threshold") { options.threshold = Float(threshold) }
            options.paint = fields.choice("paint", ClassPainter.Mode.self, ClassPainter.Mode.allCases) ?? .argmax
            options.batchSize = fields.int("batch-size") ?? options.batchSize
            options.precision = fields.choice("precision", Precision.self, Precision.allCases) ?? .f32
            options.convolution = fields.choice("convolution", ConvolutionAlgorithm.self, ConvolutionAlgorithm.allCases) ?? .winograd
            fields.reject(options.problems)
            action = .predict(BatchPredictionJob(options: options, inputs: (inputs ?? []).map(fields.resolve)))
        case .evaluate:
            var job = EvaluationJob(predictions: required("predictions"), truth: required("truth"))
            job.legendPath = fields.path("legend")
            job.truthSuffix = fields.string("truth-suffix") ?? ""
            job.reportPath = fields.path("report")
            action = .evaluate(job)
        case nil:
            break
        }
        var positions: [String: SourcePosition] = [:]
        for key in fields.knownKeys { positions[key] = fields.position(of: key) }
        // Without a kind the stage's keys are unknowable; only 'stage' itself is reported.
        if kind != nil { fields.rejectUnknownKeys(known: fields.knownKeys.joined(separator: ", ")) }
        problems += fields.problems
        guard let action, fields.problems.isEmpty else { return nil }
        return PipelineStage(name: name, action: action, position: fields.position, positions: positions)
    }

    static func parseTraining(_ fields: inout YAMLMappingReader, into options: inout TrainingOptions) {
        options.maskSuffix = fields.string("mask-suffix") ?? ""
        options.legendPath = fields.path("legend")
        options.epochs = fields.int("epochs") ?? options.epochs
        options.stepsPerEpoch = fields.int("steps-per-epoch") ?? options.stepsPerEpoch
        options.batchSize = fields.int("batch-size") ?? options.batchSize
        options.learningRate = fields.double("learning-rate") ?? options.learningRate
        if let (node, at) = fields.node("class-weights") {
            if node.scalar?.string == "auto" {
                options.autoClassWeights = true
            } else if let items = node.sequence,
                      case let weights = items.compactMap({ $0.scalar.flatMap(Double.construct) }),
                      weights.count == items.count, !weights.isEmpty, weights.allSatisfy({ $0 >= 0 }) {
                options.classWeights = weights
            } else {
                fields.report(at, "'class-weights' must be a list of non-negative numbers or 'auto'")
            }
        }
        options.tileSize = fields.int("tile-size") ?? options.tileSize
        options.depth = fields.int("depth") ?? options.depth
        options.filters = fields.int("filters") ?? options.filters
        options.growthFactor = fields.int("growth-factor") ?? options.growthFactor
        options.upsampling = fields.choice("upsampling", Upsampling.self, Upsampling.allCases) ?? options.upsampling
        options.dropout = fields.double("dropout") ?? options.dropout
        options.precision = fields.choice("precision", Precision.self, Precision.allCases) ?? options.precision
        options.convolution = fields.choice("convolution", ConvolutionAlgorithm.self, ConvolutionAlgorithm.allCases) ?? options.convolution
        options.seed = fields.uint64("seed") ?? options.seed
        options.normalization = fields.choice("normalization", Normalization.Mode.self, Normalization.Mode.allCases) ?? options.normalization
        options.validationFraction = fields.double("validation-fraction") ?? options.validationFraction
        options.validationScenes = fields.list("validation-scenes", "a scene name", { $0.string }) ?? []
        options.rareClassProbability = fields.double("oversample-rare") ?? options.rareClassProbability
        options.loaderThreads = fields.int("loader-threads") ?? options.loaderThreads
        options.resume = fields.bool("resume") ?? false
        // The network's shape is checked as a whole (tile size against depth, the bottleneck's width).
        fields.reject(options.problems, groups: [["tile-size", "depth", "filters", "growth-factor"]])
    }

    /// The stages to run: all, or the one named `only`.
    public func selected(_ only: String?) throws(PipelineFileError) -> [PipelineStage] {
        guard let only else { return stages }
        guard let stage = stages.first(where: { $0.name == only }) else {
            throw PipelineFileError(path: path, line: 0, column: 0,
                                    message: "has no stage named '\(only)'; its stages: \(stages.map(\.name).joined(separator: ", "))")
        }
        return [stage]
    }

    /// `path` with every symbolic link resolved, also one whose target does not exist yet (a
    /// link to the folder a stage will create), so that two spellings of one folder compare equal.
    static func resolved(_ path: String) -> String {
        var current = URL(fileURLWithPath: path).standardizedFileURL.path
        for _ in 0..<16 {
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: current) else { break }
            let absolute = target.hasPrefix("/") ? target : ((current as NSString).deletingLastPathComponent as NSString).appendingPathComponent(target)
            current = URL(fileURLWithPath: absolute).standardizedFileURL.path
        }
        return URL(fileURLWithPath: current).resolvingSymlinksInPath().path
    }

    /// Checks, before anything runs, that every folder and file the selected stages read exists
    /// or is made by an earlier selected stage, and that no two stages write over each other.
    public func check(_ selected: [PipelineStage]) throws(PipelineFileProblems) {
        var problems: [PipelineFileError] = []
        /// The models earlier train stages write, with their tile size and depth.
        var models: [String: (tileSize: Int, depth: Int)] = [:]
        var predictionFolders: [String: String] = [:]
        for stage in selected {
            func fail(_ key: String, _ message: String) {
                problems.append(PipelineFileError(path: path, at: stage.position(of: key), message))
            }
            func requireFolder(_ key: String, _ folder: String) {
                var isDirectory: ObjCBool = false
                if !FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) {
                    fail(key, "'\(key)': no such folder \(folder)")
                } else if !isDirectory.boolValue {
                    fail(key, "'\(key)': \(folder) is not a folder")
                }
            }
            func requireLegend(_ file: String?) {
                guard let file else { return }
                guard FileManager.default.fileExists(atPath: file) else { return fail("legend", "'legend': no such file \(file)") }
                do {
                    _ = try ClassLegend.load(path: file)
                } catch {
                    fail("legend", "'legend': \(error)")
                }
            }
            /// A path that a stage will create: no existing folder (or, for a folder, no file) in
            /// its place, and no file where one of its parent folders should be.
            func requireCreatable(_ key: String, _ path: String?, folder: Bool) {
                guard let path else { return }
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue != folder {
                    return fail(key, "'\(key)': \(path) is \(folder ? "a file, not a folder" : "a folder, not a file")")
                }
                var parent = (path as NSString).deletingLastPathComponent
                while !parent.isEmpty && parent != "/" {
                    if FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory) {
                        if !isDirectory.boolValue { fail(key, "'\(key)': \(parent) is a file, so \(path) cannot be made") }
                        return
                    }
                    parent = (parent as NSString).deletingLastPathComponent
                }
            }
            switch stage.action {
            case .train(let options):
                let before = problems.count
                requireFolder("images", options.images)
                requireFolder("masks", options.masks)
                requireLegend(options.legendPath)
                if problems.count == before {
                    for (option, message) in Trainer(options: options).inputProblems() {
                        fail(option, message.replacingOccurrences(of: "--\(option)", with: "'\(option)'"))
                    }
                }
                requireCreatable("out", options.output, folder: false)
                models[options.output] = (options.tileSize, options.depth)
            case .predict(let job):
                let trained = models[job.options.modelPath]
                if trained == nil && !FileManager.default.fileExists(atPath: job.options.modelPath) {
                    fail("model", "'model': \(job.options.modelPath) does not exist and no earlier train stage writes it")
                } else if let overlap = job.options.overlap {
                    // The model's tiles decide which overlaps fit: the train stage's, or the file's.
                    var tiles = trained
                    if tiles == nil {
                        do {
                            let config = try ModelFile.configuration(ofFile: job.options.modelPath)
                            tiles = (config.tileSize, config.depth)
                        } catch {
                            fail("model", "'model': \(error)")
                        }
                    }
                    if let tiles, let problem = Predictor.overlapProblem(overlap, tileSize: tiles.tileSize, depth: tiles.depth) {
                        fail("overlap", problem.replacingOccurrences(of: "--overlap", with: "'overlap'"))
                    }
                }
                for input in job.inputs where !FileManager.default.fileExists(atPath: input) {
                    fail("inputs", "'inputs': no such file or folder \(input)")
                }
                let folder = job.options.outputDirectory
                requireCreatable("out", folder, folder: true)
                // Compared as resolved, so that a link to another stage's folder is that folder.
                let resolved = Self.resolved(folder)
                if let other = predictionFolders[resolved] {
                    fail("out", "'out': the predict stage '\(other)' writes to \(folder) too; give each predict stage its own folder (their manifests and reports would overwrite each other)")
                } else {
                    predictionFolders[resolved] = stage.name
                }
            case .evaluate(let job):
                if predictionFolders[Self.resolved(job.predictions)] == nil {
                    requireFolder("predictions", job.predictions)
                }
                requireFolder("truth", job.truth)
                requireLegend(job.legendPath)
                requireCreatable("report", job.reportPath, folder: false)
                if let report = job.reportPath,
                   let other = predictionFolders[Self.resolved((report as NSString).deletingLastPathComponent)] {
                    fail("report", "'report': \(report) is in the output folder of the predict stage '\(other)', where it could replace that stage's maps or manifest; write it elsewhere")
                }
            }
        }
        if let found = PipelineFileProblems(problems) { throw found }
    }
}
