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
/// checks the file system; both report the file, line and column.
public struct PipelineFile: Sendable {
    public var path: String
    public var stages: [PipelineStage]

    static let trainKeys: Set<String> = [
        "images", "masks", "out", "mask-suffix", "legend", "epochs", "steps-per-epoch", "batch-size",
        "learning-rate", "class-weights", "tile-size", "depth", "filters", "growth-factor", "upsampling",
        "dropout", "precision", "convolution", "seed", "normalization", "validation-fraction", "validation-scenes",
        "oversample-rare", "loader-threads", "resume",
    ]

    /// Parses and type-checks the file.
    public static func load(path: String) throws -> PipelineFile {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw PipelineFileError(path: path, line: 0, column: 0, message: "no such file")
        }
        if isDirectory.boolValue { throw PipelineFileError(path: path, line: 0, column: 0, message: "is a folder, not a pipeline file") }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw PipelineFileError(path: path, line: 0, column: 0, message: "cannot be read as UTF-8 text")
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw syntaxError(error, path: path)
        }
        guard let root else {
            throw PipelineFileError(path: path, line: 0, column: 0, message: "is empty; it needs a list of stages")
        }
        let base = (URL(fileURLWithPath: path).standardizedFileURL.path as NSString).deletingLastPathComponent
        var top = try YAMLMappingReader(root, file: path, base: base, what: "a pipeline file")
        let stagesEntry = top.node("stages")
        try top.rejectUnknownKeys(known: "stages")
        guard let (stagesNode, stagesAt) = stagesEntry else {
            throw PipelineFileError(path: path, at: top.position, "needs 'stages:', a list of train, predict and evaluate stages")
        }
        guard let list = stagesNode.sequence, !list.isEmpty else {
            throw PipelineFileError(path: path, at: stagesAt, "'stages' must be a non-empty list of stages")
        }
        var stages: [PipelineStage] = []
        for node in list {
            let stage = try parseStage(node, file: path, base: base)
            if let earlier = stages.first(where: { $0.name == stage.name }) {
                throw PipelineFileError(path: path, at: stage.position,
                                        "a stage named '\(stage.name)' already exists at line \(earlier.position.line); give one a different 'name'")
            }
            stages.append(stage)
        }
        return PipelineFile(path: path, stages: stages)
    }

    static func syntaxError(_ error: YamlError, path: String) -> PipelineFileError {
        switch error {
        case let .scanner(_, problem, mark, _), let .parser(_, problem, mark, _), let .composer(_, problem, mark, _):
            return PipelineFileError(path: path, line: mark.line, column: mark.column, message: "YAML: \(problem)")
        case let .duplicatedKeysInMapping(duplicates, context):
            return PipelineFileError(path: path, line: context.mark.line, column: context.mark.column,
                                     message: "'\(duplicates.joined(separator: "', '"))' is given twice")
        default:
            return PipelineFileError(path: path, line: 0, column: 0, message: "YAML: \(error)")
        }
    }

    static func parseStage(_ node: Node, file: String, base: String) throws -> PipelineStage {
        var fields = try YAMLMappingReader(node, file: file, base: base, what: "a stage")
        guard let kind = try fields.choice("stage", PipelineStage.Kind.self, PipelineStage.Kind.allCases) else {
            throw fields.error(fields.position, "a stage needs 'stage:' (train, predict or evaluate)")
        }
        let name = try fields.string("name") ?? kind.rawValue
        func required(_ key: String) throws -> String {
            guard let value = try fields.path(key) else {
                throw fields.error(fields.position, "a \(kind.rawValue) stage needs '\(key)'")
            }
            return value
        }
        let action: PipelineStage.Action
        switch kind {
        case .train:
            var options = TrainingOptions(images: try required("images"), masks: try required("masks"), output: try required("out"))
            try parseTraining(&fields, into: &options)
            action = .train(options)
        case .predict:
            var options = PredictionOptions(modelPath: try required("model"), outputDirectory: try required("out"))
            guard let inputs = try fields.list("inputs", "a path", { $0.string.isEmpty ? nil : $0.string }) else {
                throw fields.error(fields.position, "a predict stage needs 'inputs' (scene files or folders)")
            }
            options.overlap = try fields.int("overlap")
            options.testTimeAugmentation = try fields.bool("tta") ?? false
            options.writeProbabilities = try fields.bool("probabilities") ?? false
            if let threshold = try fields.double("threshold") { options.threshold = Float(threshold) }
            options.paint = try fields.choice("paint", ClassPainter.Mode.self, ClassPainter.Mode.allCases) ?? .argmax
            options.batchSize = try fields.int("batch-size") ?? options.batchSize
            options.precision = try fields.choice("precision", Precision.self, Precision.allCases) ?? .f32
            options.convolution = try fields.choice("convolution", ConvolutionAlgorithm.self, ConvolutionAlgorithm.allCases) ?? .winograd
            try fields.reject(options.problems)
            action = .predict(BatchPredictionJob(options: options, inputs: inputs.map(fields.resolve)))
        case .evaluate:
            var job = EvaluationJob(predictions: try required("predictions"), truth: try required("truth"))
            job.legendPath = try fields.path("legend")
            job.truthSuffix = try fields.string("truth-suffix") ?? ""
            job.reportPath = try fields.path("report")
            action = .evaluate(job)
        }
        var positions: [String: SourcePosition] = [:]
        for key in fields.knownKeys { positions[key] = fields.position(of: key) }
        try fields.rejectUnknownKeys(known: fields.knownKeys.joined(separator: ", "))
        return PipelineStage(name: name, action: action, position: fields.position, positions: positions)
    }

    static func parseTraining(_ fields: inout YAMLMappingReader, into options: inout TrainingOptions) throws {
        options.maskSuffix = try fields.string("mask-suffix") ?? ""
        options.legendPath = try fields.path("legend")
        options.epochs = try fields.int("epochs") ?? options.epochs
        options.stepsPerEpoch = try fields.int("steps-per-epoch") ?? options.stepsPerEpoch
        options.batchSize = try fields.int("batch-size") ?? options.batchSize
        options.learningRate = try fields.double("learning-rate") ?? options.learningRate
        if let (node, at) = fields.node("class-weights") {
            if node.scalar?.string == "auto" {
                options.autoClassWeights = true
            } else {
                guard let items = node.sequence,
                      case let weights = items.compactMap({ $0.scalar.flatMap(Double.construct) }),
                      weights.count == items.count, !weights.isEmpty, weights.allSatisfy({ $0 >= 0 })
                else {
                    throw fields.error(at, "'class-weights' must be a list of non-negative numbers or 'auto'")
                }
                options.classWeights = weights
            }
        }
        options.tileSize = try fields.int("tile-size") ?? options.tileSize
        options.depth = try fields.int("depth") ?? options.depth
        options.filters = try fields.int("filters") ?? options.filters
        options.growthFactor = try fields.int("growth-factor") ?? options.growthFactor
        options.upsampling = try fields.choice("upsampling", Upsampling.self, Upsampling.allCases) ?? options.upsampling
        options.dropout = try fields.double("dropout") ?? options.dropout
        options.precision = try fields.choice("precision", Precision.self, Precision.allCases) ?? options.precision
        options.convolution = try fields.choice("convolution", ConvolutionAlgorithm.self, ConvolutionAlgorithm.allCases) ?? options.convolution
        options.seed = try fields.uint64("seed") ?? options.seed
        options.normalization = try fields.choice("normalization", Normalization.Mode.self, Normalization.Mode.allCases) ?? options.normalization
        options.validationFraction = try fields.double("validation-fraction") ?? options.validationFraction
        options.validationScenes = try fields.list("validation-scenes", "a scene name", { $0.string }) ?? []
        options.rareClassProbability = try fields.double("oversample-rare") ?? options.rareClassProbability
        options.loaderThreads = try fields.int("loader-threads") ?? options.loaderThreads
        options.resume = try fields.bool("resume") ?? false
        try fields.reject(options.problems)
    }

    /// The stages to run: all, or the one named `only`.
    public func selected(_ only: String?) throws -> [PipelineStage] {
        guard let only else { return stages }
        guard let stage = stages.first(where: { $0.name == only }) else {
            throw PipelineFileError(path: path, line: 0, column: 0,
                                    message: "has no stage named '\(only)'; its stages: \(stages.map(\.name).joined(separator: ", "))")
        }
        return [stage]
    }

    /// Checks, before anything runs, that every folder and file the selected stages read exists
    /// or is made by an earlier selected stage.
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

    public func check(_ selected: [PipelineStage]) throws {
        /// The models earlier train stages write, with their tile size and depth.
        var models: [String: (tileSize: Int, depth: Int)] = [:]
        var predictionFolders: [String: String] = [:]
        for stage in selected {
            func fail(_ key: String, _ message: String) -> PipelineFileError {
                PipelineFileError(path: path, at: stage.position(of: key), message)
            }
            func requireFolder(_ key: String, _ folder: String) throws {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) else {
                    throw fail(key, "'\(key)': no such folder \(folder)")
                }
                guard isDirectory.boolValue else { throw fail(key, "'\(key)': \(folder) is not a folder") }
            }
            func requireFile(_ key: String, _ file: String?) throws {
                guard let file else { return }
                guard FileManager.default.fileExists(atPath: file) else { throw fail(key, "'\(key)': no such file \(file)") }
            }
            func requireLegend(_ file: String?) throws {
                try requireFile("legend", file)
                guard let file else { return }
                do {
                    _ = try ClassLegend.load(path: file)
                } catch {
                    throw fail("legend", "'legend': \(error)")
                }
            }
            /// A path that a stage will create: no existing folder (or, for a folder, no file) in
            /// its place, and no file where one of its parent folders should be.
            func requireCreatable(_ key: String, _ path: String?, folder: Bool) throws {
                guard let path else { return }
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue != folder {
                    throw fail(key, "'\(key)': \(path) is \(folder ? "a file, not a folder" : "a folder, not a file")")
                }
                var parent = (path as NSString).deletingLastPathComponent
                while !parent.isEmpty && parent != "/" {
                    if FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory) {
                        if !isDirectory.boolValue { throw fail(key, "'\(key)': \(parent) is a file, so \(path) cannot be made") }
                        break
                    }
                    parent = (parent as NSString).deletingLastPathComponent
                }
            }
            switch stage.action {
            case .train(let options):
                try requireFolder("images", options.images)
                try requireFolder("masks", options.masks)
                try requireLegend(options.legendPath)
                try requireCreatable("out", options.output, folder: false)
                models[options.output] = (options.tileSize, options.depth)
            case .predict(let job):
                let trained = models[job.options.modelPath]
                if trained == nil && !FileManager.default.fileExists(atPath: job.options.modelPath) {
                    throw fail("model", "'model': \(job.options.modelPath) does not exist and no earlier train stage writes it")
                }
                if let overlap = job.options.overlap {
                    // The model's tiles decide which overlaps fit: the train stage's, or the file's.
                    let tiles = try trained ?? { () throws -> (tileSize: Int, depth: Int) in
                        do {
                            let config = try ModelFile.configuration(ofFile: job.options.modelPath)
                            return (config.tileSize, config.depth)
                        } catch {
                            throw fail("model", "'model': \(error)")
                        }
                    }()
                    if let problem = Predictor.overlapProblem(overlap, tileSize: tiles.tileSize, depth: tiles.depth) {
                        throw fail("overlap", problem.replacingOccurrences(of: "--overlap", with: "'overlap'"))
                    }
                }
                for input in job.inputs where !FileManager.default.fileExists(atPath: input) {
                    throw fail("inputs", "'inputs': no such file or folder \(input)")
                }
                let folder = job.options.outputDirectory
                try requireCreatable("out", folder, folder: true)
                // Compared as resolved, so that a link to another stage's folder is that folder.
                let resolved = Self.resolved(folder)
                if let other = predictionFolders[resolved] {
                    throw fail("out", "'out': the predict stage '\(other)' writes to \(folder) too; give each predict stage its own folder (their manifests and reports would overwrite each other)")
                }
                predictionFolders[resolved] = stage.name
            case .evaluate(let job):
                if predictionFolders[Self.resolved(job.predictions)] == nil {
                    try requireFolder("predictions", job.predictions)
                }
                try requireFolder("truth", job.truth)
                try requireLegend(job.legendPath)
                try requireCreatable("report", job.reportPath, folder: false)
                if let report = job.reportPath,
                   let other = predictionFolders[Self.resolved((report as NSString).deletingLastPathComponent)] {
                    throw fail("report", "'report': \(report) is in the output folder of the predict stage '\(other)', where it could replace that stage's maps or manifest; write it elsewhere")
                }
            }
        }
    }
}
