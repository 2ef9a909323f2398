import Foundation
import Raster
import UNet

/// Trains a U-Net on a dataset of scenes and masks (`segpipe train`).
public struct Trainer {
    public var options: TrainingOptions

    public init(options: TrainingOptions) { self.options = options }

    /// The last checkpoint, with optimizer and run state, beside the output model.
    public var lastCheckpointPath: String { Self.sibling(options.output, suffix: ".last.safetensors") }
    /// One JSON line of metrics per epoch.
    public var metricsPath: String { Self.sibling(options.output, suffix: ".metrics.jsonl") }

    static func sibling(_ path: String, suffix: String) -> String {
        let base = path.hasSuffix(".safetensors") ? String(path.dropLast(".safetensors".count)) : path
        return base + suffix
    }

    /// Runs (or, with `options.resume`, continues) training: checks the dataset, computes the
    /// normalisation, then trains epoch by epoch, writing metrics and checkpoints. Throws
    /// `TrainingInterrupted` after saving a checkpoint once `stopRequested` returns true. Returns
    /// the number of batches trained: 0 when a resumed run had already finished (its best model
    /// must still be there, else this throws).
    @discardableResult
    public func run(stopRequested: @escaping @Sendable () -> Bool = { false },
                    onEvent: (TrainingEvent) -> Void = { _ in }) throws -> Int {
        if let problem = options.problems.first { throw UsageError(problem) }
        let folders = [("--images", options.images), ("--masks", options.masks)].compactMap { option, path in
            Self.folderProblem(option: option, path: path)
        }
        if !folders.isEmpty { throw UsageError(lines: folders) }
        // Before converting masks and computing statistics, which can take minutes.
        try UNetModel.checkThreadSettings()
        try prepareOutputFolder()
        let lock = try lockModel()
        defer { withExtendedLifetime(lock) {} }
        removeLeftovers()
        let (legend, foreground) = try trainingLegend()
        let classes = foreground.count
        // Resuming where there is nothing to resume starts a new run, so that `resume: true` is the
        // one setting an unattended job needs: the first run trains, a killed one continues, a
        // finished one does nothing.
        let resumed: ModelFile? = options.resume && FileManager.default.fileExists(atPath: lastCheckpointPath) ? try loadCheckpoint() : nil

        var config = resumed?.config ?? UNetConfig(
            nClasses: classes, nChannels: 1, tileSize: options.tileSize, nFiltersStart: options.filters,
            growthFactor: options.growthFactor, depth: options.depth, upsampling: options.upsampling,
            dropout: options.dropout, classWeights: options.classWeights ?? Self.defaultClassWeights(legend))
        guard config.nClasses == classes else {
            throw PipelineError(path: lastCheckpointPath, reason: "the checkpoint has \(config.nClasses) classes but the legend has \(classes)")
        }
        let channels = try resumed.map { (bands: $0.config.nChannels, source: "the checkpoint \(lastCheckpointPath)") } ?? firstSceneBands()
        let dataset = try TrainingDataset.scan(images: options.images, masks: options.masks, maskSuffix: options.maskSuffix,
                                               channels: channels.bands, channelsSource: channels.source, classes: classes)
        config.nChannels = dataset.scenes[0].bands
        if let problem = config.problems.first { throw UsageError(TrainingOptions.optionSpelling(problem)) }

        let heldOut = Set(options.validationScenes)
        for name in heldOut where !dataset.scenes.contains(where: { $0.name == name }) {
            throw UsageError("--validation-scenes: '\(name)' is not a scene in \(options.images)")
        }
        let trainingRows: (TrainingScene) -> Int = { scene in
            if !heldOut.isEmpty { return heldOut.contains(scene.name) ? 0 : scene.height }
            return scene.height - Int((Double(scene.height) * options.validationFraction).rounded())
        }
        let masks = try MaskCache(dataset: dataset, classes: classes, legend: legend, trainingRows: trainingRows)
        // Loader threads read the converted label files until the run ends; keep the folder until then.
        defer { withExtendedLifetime(masks) {} }
        let sources = dataset.scenes.compactMap { scene -> TileSampler.Source? in
            guard let labels = masks.labelPaths[scene.name] else { return nil }
            return TileSampler.Source(scene: scene, labelPath: labels, trainingRows: trainingRows(scene))
        }
        let trainingSources = sources.filter { $0.trainingRows > 0 }
        guard !trainingSources.isEmpty else {
            if !heldOut.isEmpty { throw UsageError("--validation-scenes holds out every scene; none is left to train on") }
            throw PipelineError(path: options.images, reason: "every scene is held out for validation; none is left to train on")
        }
        guard masks.classPixelCounts.reduce(0, +) > 0 else {
            throw PipelineError(path: options.masks, reason: "no mask has a labelled pixel in its training rows (all are 'no label')")
        }

        let normalization: Normalization
        var progress: TrainingProgress
        if let resumed {
            normalization = try Normalization(resumed.normalization, bands: config.nChannels, path: lastCheckpointPath)
            guard let state = resumed.training?.trainer else {
                throw PipelineError(path: lastCheckpointPath, reason: "is not a training checkpoint (no trainer state); it cannot be resumed")
            }
            let stored: TrainingProgress
            do {
                stored = try JSONDecoder().decode(TrainingProgress.self, from: Data(state.utf8))
            } catch {
                throw PipelineError(path: lastCheckpointPath, reason: "holds a trainer state that cannot be read (\(ModelFileError.explain(error))); it cannot be resumed")
            }
            if let problem = stored.problems.first {
                throw PipelineError(path: lastCheckpointPath, reason: "holds an impossible trainer state (\(problem)); it cannot be resumed")
            }
            progress = Self.adoptingPixelWeightedLosses(stored)
            // The best model so far is gone (deleted, or never copied to this machine): the next
            // epoch's model is the best there is, and must be written.
            if !FileManager.default.fileExists(atPath: options.output) { progress.bestValidationLoss = nil }
            var conflicts = Self.resumeConflicts(options, config: config, progress: progress)
            // `auto` asks for the weights of this data: the checkpoint's, if the data is the same.
            let givenWeights = options.classWeights
                ?? (options.autoClassWeights ? Self.inverseFrequencyWeights(masks.classFrequencies) : nil)
            if let given = givenWeights, given != progress.classWeights {
                conflicts.append("--class-weights \(Self.list(progress.classWeights)), not \(options.classWeights == nil ? "auto (\(Self.list(given)))" : Self.list(given))")
            }
            let legendClasses = foreground.map { ModelClass(name: $0.name, red: $0.color.red, green: $0.color.green, blue: $0.color.blue) }
            if let stored = resumed.classes, stored != legendClasses {
                conflicts.append("the legend's classes \(stored.map(\.name).joined(separator: ", ")), not those of \(options.legendPath ?? "the default legend")")
            }
            if let conflict = conflicts.first {
                throw UsageError("--resume: \(lastCheckpointPath) was made with \(conflict); give the options it was made with, or train a new model without --resume")
            }
        } else {
            let regions = trainingSources.map {
                NormalizationStatistics.Region(path: $0.scene.imagePath,
                                               area: PixelWindow(x: 0, y: 0, width: $0.scene.width, height: $0.trainingRows))
            }
            normalization = try NormalizationStatistics.compute(mode: options.normalization, regions: regions, bands: config.nChannels)
            if options.autoClassWeights && options.classWeights == nil {
                config.classWeights = Self.inverseFrequencyWeights(masks.classFrequencies)
            }
            progress = TrainingProgress(batchesDone: 0, bestValidationLoss: nil, seed: options.seed,
                                        stepsPerEpoch: options.stepsPerEpoch, batchSize: options.batchSize,
                                        classWeights: config.classWeights, epochLabelledPixels: 0,
                                        normalization: options.normalization.rawValue,
                                        validationFraction: options.validationFraction, validationScenes: options.validationScenes,
                                        rareClassProbability: options.rareClassProbability)
        }

        let model = try resumed?.makeModel(precision: options.precision, convolutionAlgorithm: options.convolution,
                                           batchSize: progress.batchSize)
            ?? UNetModel(config: config, seed: options.seed, precision: options.precision, convolutionAlgorithm: options.convolution,
                         batchSize: options.batchSize)
        model.learningRate = Float(options.learningRate)

        let trainSampler = TileSampler(sources: trainingSources, tileSize: config.tileSize, classes: classes,
                                       normalization: normalization, seed: progress.seed,
                                       rareClassProbability: options.rareClassProbability,
                                       classFrequencies: masks.classFrequencies)
        let validationSampler = TileSampler(sources: sources, tileSize: config.tileSize, classes: classes,
                                            normalization: normalization, seed: progress.seed, augment: false)
        let validationWindows = validationSampler.validationWindows
        let totalBatches = options.epochs * progress.stepsPerEpoch
        var plan = TrainingPlan(scenes: dataset.scenes.count, validationTiles: validationWindows.count,
                                resumedAtBatch: progress.batchesDone, totalBatches: totalBatches,
                                normalization: normalization, classWeights: config.classWeights, config: config)
        plan.startedWithoutCheckpoint = options.resume && resumed == nil
        onEvent(.prepared(plan))

        let classMetadata = foreground.map { ModelClass(name: $0.name, red: $0.color.red, green: $0.color.green, blue: $0.color.blue) }
        let backgroundMetadata = legend.entry(id: ClassLegend.backgroundID).map {
            ModelClass(name: $0.name, red: $0.color.red, green: $0.color.green, blue: $0.color.blue)
        }
        guard progress.batchesDone < totalBatches else {
            guard FileManager.default.fileExists(atPath: options.output) else {
                throw PipelineError(path: options.output, reason: "is missing, and the run it belongs to has finished all \(totalBatches) batches (\(lastCheckpointPath)); raise --epochs to train on, or train anew without --resume")
            }
            // "Nothing left to train" promises a usable model to the stages after this one.
            do {
                _ = try ModelFile(contentsOfFile: options.output, includeTraining: false)
            } catch {
                throw PipelineError(path: options.output, reason: "is not a readable model (\(error)), and the run it belongs to has finished all \(totalBatches) batches; raise --epochs to train on, or train anew without --resume")
            }
            return 0
        }
        // Data where every labelled pixel has a nodata band would train for ever at zero loss.
        // Each loader thread and validation keep files open: their caches share the limit.
        let readersPerCache = ReaderCache.capacity(sharedBy: options.loaderThreads + 1)
        guard try trainSampler.trainingRowsHaveALossPixel(readers: ReaderCache(capacity: readersPerCache)) else {
            throw PipelineError(path: options.images, reason: "no pixel of the training rows has both a label and a valid value in every band (nodata, NaN and infinity are not); the loss would stay 0")
        }
        try startMetrics(resumedAtBatch: progress.batchesDone)

        let batchSize = progress.batchSize
        let loaderBudget = DecodedChunkBudget(bytes: Self.loaderDecodedChunkBytes)
        let queue = BatchQueue<TrainingBatch>(first: progress.batchesDone, end: totalBatches, capacity: 4,
                                              producers: options.loaderThreads, readers: {
            ReaderCache(capacity: readersPerCache, decodedChunkLimit: Self.loaderDecodedChunkBytes / 2, budget: loaderBudget)
        }) { index, readers in
            try trainSampler.trainingBatch(index: index, size: batchSize, readers: readers)
        }
        defer { queue.stop() }

        // As large as the loaders': a scene stored as one strip they keep, validation keeps too.
        let validationReaders = ReaderCache(capacity: readersPerCache, budget: DecodedChunkBudget(bytes: Self.loaderDecodedChunkBytes))
        var epochSteps = 0
        var epochStart = Date(), waitAtEpochStart = queue.waitingSeconds
        let runStart = Date()
        let firstBatch = progress.batchesDone
        while progress.batchesDone < totalBatches {
            if stopRequested() {
                try saveCheckpoint(model, progress: progress, normalization: normalization, classes: classMetadata,
                                   background: backgroundMetadata, onEvent: onEvent)
                throw TrainingInterrupted(checkpoint: lastCheckpointPath)
            }
            guard let batch = try queue.next() else { break }
            let loss = try model.trainStep(input: batch.inputs, targets: batch.targets, ignoreMask: batch.ignore)
            guard loss.isFinite else {
                throw PipelineError(path: options.output, reason: "the training loss became \(loss) at batch \(progress.batchesDone + 1); try a lower --learning-rate")
            }
            progress.batchesDone += 1
            // A batch's loss is its labelled pixels' mean: weighted by their number, a batch of
            // unlabelled tiles adds nothing instead of a zero that drags the epoch's mean down.
            let labelled = Double(batch.ignore.values.reduce(0) { $0 + ($1 == 0 ? 1 : 0) })
            progress.epochLossSum += Double(loss) * labelled
            progress.epochLabelledPixels = (progress.epochLabelledPixels ?? 0) + labelled
            epochSteps += 1
            let elapsed = Date().timeIntervalSince(runStart)
            let done = progress.batchesDone - firstBatch
            let rate = Double(done * batchSize) / max(elapsed, 1e-9)
            let eta = Double(totalBatches - progress.batchesDone) * elapsed / Double(max(done, 1))
            let epoch = (progress.batchesDone - 1) / progress.stepsPerEpoch + 1
            let step = (progress.batchesDone - 1) % progress.stepsPerEpoch + 1
            onEvent(.step(epoch: epoch, step: step, loss: loss, tilesPerSecond: rate, etaSeconds: eta))

            if step == progress.stepsPerEpoch {
                let seconds = Date().timeIntervalSince(epochStart)
                let validation = try validate(model, sampler: validationSampler, windows: validationWindows,
                                              readers: validationReaders, legend: legend, batchSize: batchSize)
                let metrics = EpochMetrics(
                    epoch: epoch, step: progress.batchesDone,
                    trainingLoss: progress.epochLabelledPixels.flatMap { $0 > 0 ? progress.epochLossSum / $0 : nil },
                    validationLoss: validation?.loss, classIoU: validation?.classIoU ?? [], meanIoU: validation?.meanIoU,
                    tilesPerSecond: Double(epochSteps * batchSize) / max(seconds, 1e-9),
                    loaderWaitShare: (queue.waitingSeconds - waitAtEpochStart) / max(seconds, 1e-9), seconds: seconds)
                try appendMetrics(metrics)
                onEvent(.epochFinished(metrics))
                // An epoch without a labelled pixel has no score: it keeps the best model there is,
                // and writes one only if there is none yet.
                let score = validation?.loss ?? metrics.trainingLoss ?? Double.greatestFiniteMagnitude
                if progress.bestValidationLoss.map({ score < $0 }) ?? true {
                    progress.bestValidationLoss = score
                    try ModelFile.write(model: model, classes: classMetadata, background: backgroundMetadata,
                                        normalization: normalization.modelNormalization,
                                        toFile: options.output)
                    onEvent(.checkpointWritten(path: options.output))
                }
                progress.epochLossSum = 0
                progress.epochLabelledPixels = 0
                try saveCheckpoint(model, progress: progress, normalization: normalization, classes: classMetadata,
                                   background: backgroundMetadata, onEvent: onEvent)
                epochSteps = 0
                epochStart = Date()
                waitAtEpochStart = queue.waitingSeconds
            }
        }
        return progress.batchesDone - firstBatch
    }

    /// The progress of a checkpoint written before losses were weighted by labelled pixels (no
    /// `epochLabelledPixels`), made to go on with them: its epoch's sum of batch means is dropped,
    /// so that epoch reports the batches after the resumption, and its best score, on the old
    /// scale, is forgotten, so the next epoch's model is written and later ones are compared
    /// with it on the new one.
    static func adoptingPixelWeightedLosses(_ stored: TrainingProgress) -> TrainingProgress {
        guard stored.epochLabelledPixels == nil else { return stored }
        var progress = stored
        progress.epochLossSum = 0
        progress.epochLabelledPixels = 0
        progress.bestValidationLoss = nil
        return progress
    }

    /// Decoded strips and tiles the loader threads' readers keep together; each reader half of it,
    /// so that one scene of up to 128 MiB of samples (40000×200 of 8 uint16 bands) is decoded once.
    static let loaderDecodedChunkBytes = 256 << 20

    /// "--images PATH: no such folder" (or "is not a folder"), nil for a folder.
    static func folderProblem(option: String, path: String) -> String? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return "\(option) \(path): no such folder" }
        return isDirectory.boolValue ? nil : "\(option) \(path): is not a folder"
    }

    /// The options in which a resumed run differs from its checkpoint, where that matters: the
    /// network's shape, the data's scaling and split and the sequence of batches (epochs and the
    /// learning rate may change).
    /// Each is "--option stored, not given".
    static func resumeConflicts(_ options: TrainingOptions, config: UNetConfig, progress: TrainingProgress) -> [String] {
        var pairs: [(String, String, String)] = [
            ("--tile-size", "\(config.tileSize)", "\(options.tileSize)"), ("--depth", "\(config.depth)", "\(options.depth)"),
            ("--filters", "\(config.nFiltersStart)", "\(options.filters)"),
            ("--growth-factor", "\(config.growthFactor)", "\(options.growthFactor)"),
            ("--upsampling", config.upsampling.rawValue, options.upsampling.rawValue),
            ("--dropout", "\(config.dropout)", "\(options.dropout)"),
            ("--batch-size", "\(progress.batchSize)", "\(options.batchSize)"),
            ("--steps-per-epoch", "\(progress.stepsPerEpoch)", "\(options.stepsPerEpoch)"), ("--seed", "\(progress.seed)", "\(options.seed)"),
        ]
        if let stored = progress.normalization { pairs.append(("--normalization", stored, options.normalization.rawValue)) }
        if let stored = progress.validationFraction, progress.validationScenes?.isEmpty != false {
            pairs.append(("--validation-fraction", "\(stored)", options.validationScenes.isEmpty ? "\(options.validationFraction)" : "--validation-scenes"))
        }
        if let stored = progress.validationScenes, !stored.isEmpty {
            pairs.append(("--validation-scenes", stored.joined(separator: ","), options.validationScenes.joined(separator: ",")))
        }
        if let stored = progress.rareClassProbability { pairs.append(("--oversample-rare", "\(stored)", "\(options.rareClassProbability)")) }
        return pairs.filter { $0.1 != $0.2 }.map { "\($0.0) \($0.1), not \($0.2)" }
    }

    /// The bands of the first scene (in name order), which every other scene must have too.
    static func list(_ values: [Double]) -> String {
        values.map { "\($0)" }.joined(separator: ",")
    }

    /// The checkpoint a resumed run would continue, its configuration and position, from the
    /// header alone; nil when the run would start anew or the checkpoint cannot be read (the run
    /// itself then says why).
    func checkpointToResume() -> (config: UNetConfig, progress: TrainingProgress)? {
        guard options.resume, FileManager.default.fileExists(atPath: lastCheckpointPath),
              let header = try? ModelFile.checkpointHeader(ofFile: lastCheckpointPath), let text = header.trainer,
              let progress = try? JSONDecoder().decode(TrainingProgress.self, from: Data(text.utf8)) else { return nil }
        return (header.config, progress)
    }

    /// Options that differ from those the checkpoint to resume was made with, as the run would
    /// refuse them.
    func resumeProblems() -> [(option: String, message: String)] {
        guard let (config, progress) = checkpointToResume() else { return [] }
        return Self.resumeConflicts(options, config: config, progress: progress).map { conflict in
            let option = String(conflict.prefix { $0 != " " }.dropFirst(2))
            return (option, "resuming \(lastCheckpointPath), which was made with \(conflict); give the options it was made with, or train a new model without resuming")
        }
    }

    /// What a run would do, for a dry run: train anew, resume at a batch, or nothing.
    public var plannedWork: String {
        guard let (_, progress) = checkpointToResume() else {
            return "would train \(options.output) on \(options.images) for \(options.epochs) epochs"
        }
        let total = options.epochs * progress.stepsPerEpoch
        if progress.batchesDone >= total { return "nothing left to train; \(options.output) is the finished run's (all \(total) batches)" }
        return "would resume \(options.output) at batch \(progress.batchesDone + 1) of \(total) from \(lastCheckpointPath)"
    }

    /// What would stop this run before its first step that the files' headers already show, each
    /// with the option it concerns: the legend's ids, the pairing of scenes and masks with their
    /// sizes and bands, the held-out scene names, the number of class weights, and options that
    /// differ from those of the checkpoint a resumed run would continue. A pipeline's check
    /// runs this before anything runs; the masks' labels are read by the run itself.
    public func inputProblems() -> [(option: String, message: String)] {
        var problems = resumeProblems()
        let foreground: [ClassLegend.Entry]
        do {
            foreground = try trainingLegend().foreground
        } catch {
            return problems + [("legend", "\(error)")]
        }
        if let weights = options.classWeights, weights.count != foreground.count {
            problems.append(("class-weights", "--class-weights has \(weights.count) entries for the legend's \(foreground.count) classes"))
        }
        do {
            let channels = try firstSceneBands()
            let dataset = try TrainingDataset.scan(images: options.images, masks: options.masks, maskSuffix: options.maskSuffix,
                                                   channels: channels.bands, channelsSource: channels.source, classes: foreground.count)
            for name in options.validationScenes where !dataset.scenes.contains(where: { $0.name == name }) {
                problems.append(("validation-scenes", "--validation-scenes: '\(name)' is not a scene in \(options.images)"))
            }
            if !options.validationScenes.isEmpty, dataset.scenes.allSatisfy({ options.validationScenes.contains($0.name) }) {
                problems.append(("validation-scenes", "--validation-scenes holds out every scene; none is left to train on"))
            }
        } catch let found as DatasetProblems {
            problems += found.problems.map { ("masks", $0) }
        } catch {
            problems.append(("images", "\(error)"))
        }
        return problems
    }

    /// The class weights without `--class-weights`: the reference's (buildings 0.2, roads 0.3,
    /// trees 0.1, crops 0.1, water 0.3) for the reference legend, equal weights for any other,
    /// whose five classes need not be those.
    static func defaultClassWeights(_ legend: ClassLegend) -> [Double]? {
        let classes = legend.classes.count - 1
        return legend == .default ? nil : [Double](repeating: 1 / Double(max(classes, 1)), count: classes)
    }

    /// The legend and its classes but background, whose ids must run 1, 2, ...: the network's
    /// output channel k is class id k + 1, and background (0) is "no class".
    func trainingLegend() throws -> (legend: ClassLegend, foreground: [ClassLegend.Entry]) {
        let legend = try options.legendPath.map { try ClassLegend.load(path: $0) } ?? ClassLegend.default
        let foreground = legend.classes.filter { $0.id != ClassLegend.backgroundID }
        guard !foreground.isEmpty, foreground.map({ Int($0.id) }) == Array(1...foreground.count) else {
            throw PipelineError(path: options.legendPath ?? "", reason: "class ids must run 1, 2, ... without gaps for training (background is 0)")
        }
        return (legend, foreground)
    }

    func firstSceneBands() throws -> (bands: Int, source: String) {
        let names = try TrainingDataset.listFiles(options.images).filter {
            TrainingDataset.imageExtensions.contains(($0 as NSString).pathExtension.lowercased())
        }
        guard let first = names.first else { throw PipelineError(path: options.images, reason: "no .tif or .tiff scenes in this folder") }
        let path = (options.images as NSString).appendingPathComponent(first)
        return (try TIFFReader(path: path).info.bands, "the first scene \(path)")
    }

    func loadCheckpoint() throws -> ModelFile {
        try ModelFile(contentsOfFile: lastCheckpointPath, includeTraining: true)
    }

    func saveCheckpoint(_ model: UNetModel, progress: TrainingProgress, normalization: Normalization,
                        classes: [ModelClass], background: ModelClass?, onEvent: (TrainingEvent) -> Void) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        try ModelFile.write(model: model, includeTraining: true, classes: classes, background: background,
                            normalization: normalization.modelNormalization,
                            trainer: String(decoding: try encoder.encode(progress), as: UTF8.self), toFile: lastCheckpointPath)
        onEvent(.checkpointWritten(path: lastCheckpointPath))
    }

    /// Creates the output model's folder, and refuses one that cannot be written to, before any
    /// work: an unattended run must not find out after its first epoch that it cannot save.
    func prepareOutputFolder() throws {
        var isDirectory: ObjCBool = false
        if options.output.hasSuffix("/") || (FileManager.default.fileExists(atPath: options.output, isDirectory: &isDirectory) && isDirectory.boolValue) {
            throw PipelineError(path: options.output, reason: "--out must name a model file, not a folder")
        }
        let folder = (options.output as NSString).deletingLastPathComponent
        let path = folder.isEmpty ? "." : folder
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw PipelineError(path: path, reason: "cannot create the folder for --out (\(error.localizedDescription))")
        }
        guard FileManager.default.isWritableFile(atPath: path) else {
            throw PipelineError(path: path, reason: "the folder for --out is not writable")
        }
    }

    /// Locks the model's path for this run: two runs training one model (a nightly job still busy
    /// when the next starts) would write the same checkpoint and metrics in turn. Throws
    /// `RunLockBusy` when another run holds it.
    func lockModel() throws -> RunLock {
        let name = "." + (options.output as NSString).lastPathComponent + ".lock"
        let path = ((options.output as NSString).deletingLastPathComponent as NSString).appendingPathComponent(name)
        do {
            return try RunLock(path: path, mode: .exclusive)
        } catch var busy as RunLockBusy {
            busy.activity = "training \(options.output)"
            throw busy
        }
    }

    /// Removes what killed runs left beside the model: temporary files of dead processes, and the
    /// model writer's `.MODEL.safetensors.PID.N.tmp` of this model and its checkpoint, which,
    /// with the model locked, no other run can be writing.
    func removeLeftovers() {
        let folder = (options.output as NSString).deletingLastPathComponent
        let path = folder.isEmpty ? "." : folder
        AtomicFile.removeStaleTemporaries(in: path)
        let prefixes = [options.output, lastCheckpointPath].map { "." + ($0 as NSString).lastPathComponent + "." }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        for name in names where name.hasSuffix(".tmp") && prefixes.contains(where: name.hasPrefix) {
            unlink((path as NSString).appendingPathComponent(name))
        }
    }

    /// Empties the metrics file for a fresh run, or checks that a resumed run can append to it,
    /// before the first step. A resumed run keeps only the epochs its checkpoint holds: a run
    /// killed after writing an epoch's line but before its checkpoint would repeat that epoch.
    func startMetrics(resumedAtBatch batchesDone: Int) throws {
        if batchesDone == 0 || !FileManager.default.fileExists(atPath: metricsPath) {
            // AtomicFile keeps the permissions of the file it replaces; Foundation's createFile does not.
            do {
                try AtomicFile.write(Data(), to: metricsPath)
            } catch {
                throw PipelineError(path: metricsPath, reason: "cannot create the metrics file (\(error.reason))")
            }
            return
        }
        guard FileManager.default.isWritableFile(atPath: metricsPath),
              let text = try? String(contentsOfFile: metricsPath, encoding: .utf8) else {
            throw PipelineError(path: metricsPath, reason: "the metrics file is not readable and writable; a resumed run appends to it")
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        let kept = lines.filter { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let step = object["step"] as? Int else { return false }
            return step <= batchesDone
        }
        guard kept.count != lines.count else { return }
        do {
            try AtomicFile.write(Data(kept.map { $0 + "\n" }.joined().utf8), to: metricsPath)
        } catch {
            throw PipelineError(path: metricsPath, reason: "cannot rewrite the metrics file (\(error))")
        }
    }

    func appendMetrics(_ metrics: EpochMetrics) throws {
        let line = Data((metrics.json.serialized + "\n").utf8)
        if !FileManager.default.fileExists(atPath: metricsPath) {
            guard FileManager.default.createFile(atPath: metricsPath, contents: nil) else {
                throw PipelineError(path: metricsPath, reason: "cannot create the metrics file")
            }
        }
        guard let handle = FileHandle(forWritingAtPath: metricsPath) else {
            throw PipelineError(path: metricsPath, reason: "cannot open the metrics file for writing")
        }
        defer { try? handle.close() }
        do {
            try handle.seekToEnd()
            try handle.write(contentsOf: line)
        } catch {
            throw PipelineError(path: metricsPath, reason: "cannot append metrics (\(error.localizedDescription))")
        }
    }

    /// Class weights inversely proportional to class frequency, summing to one (absent classes
    /// get the weight of the rarest present one).
    static func inverseFrequencyWeights(_ frequencies: [Double]) -> [Double] {
        let present = frequencies.filter { $0 > 0 }
        let floor = present.min() ?? 1
        let inverse = frequencies.map { 1 / max($0, floor) }
        let total = inverse.reduce(0, +)
        return inverse.map { $0 / total }
    }

    struct ValidationResult {
        /// Nil when the held-out rows have no labelled pixel.
        var loss: Double?
        var classIoU: [(name: String, iou: Double)]
        var meanIoU: Double?
    }

    /// Scores the held-out rows: the loss over their labelled pixels (each counted once), and
    /// per class the IoU of the painted class (class maps) or of the class's own band at 0.5
    /// (multi-label masks, whose pixels may hold several classes).
    func validate(_ model: UNetModel, sampler: TileSampler, windows: [(sourceIndex: Int, window: PixelWindow)],
                  readers: ReaderCache, legend: ClassLegend, batchSize: Int) throws -> ValidationResult? {
        guard !windows.isEmpty else { return nil }
        let classes = legend.classes.count - 1
        let painter = ClassPainter(classes: classes)
        var sums = WeightedBinaryCrossEntropy.Sums(classes: classes)
        var intersection = [Int](repeating: 0, count: classes), union = [Int](repeating: 0, count: classes)
        var start = 0
        while start < windows.count {
            let slice = windows[start..<min(start + batchSize, windows.count)]
            let batch = try sampler.validationBatch(slice, readers: readers)
            let probabilities = try model.validationForward(batch.inputs).values
            let targets = batch.targets.values, ignore = batch.ignore.values
            sums.add(probabilities: probabilities, targets: targets, ignore: ignore)
            let plane = sampler.tileSize * sampler.tileSize
            let painted = painter.paint(pixelMajor: probabilities, pixels: ignore.count, classes: classes)
            for (slot, entry) in slice.enumerated() {
                let multiLabel = sampler.sources[entry.sourceIndex].scene.maskKind == .multiLabel
                for i in (slot * plane)..<((slot + 1) * plane) where ignore[i] == 0 {
                    for c in 0..<classes {
                        let truth = targets[i * classes + c] > 0.5
                        let predicted = multiLabel ? probabilities[i * classes + c] >= painter.threshold : Int(painted[i]) == c + 1
                        if truth && predicted { intersection[c] += 1 }
                        if truth || predicted { union[c] += 1 }
                    }
                }
            }
            start += slice.count
        }
        let ious = (0..<classes).map { (name: legend.classes[$0 + 1].name, iou: union[$0] == 0 ? Double.nan : Double(intersection[$0]) / Double(union[$0])) }
        let defined = ious.map(\.iou).filter { !$0.isNaN }
        return ValidationResult(loss: sums.loss(classWeights: model.config.classWeights), classIoU: ious,
                                meanIoU: defined.isEmpty ? nil : defined.reduce(0, +) / Double(defined.count))
    }

}
