import Foundation
import Raster
import Tiling
import UNet

/// Predicts class maps with a sliding window (`segpipe predict`).
///
/// A scene is read one tile row at a time (a band `tileSize` rows tall across the width, mirrored
/// at the edges), cut into overlapping tiles, run through the network in batches (optionally
/// under all eight dihedral transforms, averaged through their inverses), and blended by a
/// `Stitcher`, whose finished rows are painted and written at once. Memory grows with the scene's
/// width, never with its area. Reading and tiling (`SceneTiler`) and blending and writing
/// (`SceneAssembler`) run on their own threads beside the network (see `predict(scenes:completed:)`).
public final class Predictor {
    /// 64 pixels: a quarter of it (16 px) at each tile edge gets zero weight and the next 32 px
    /// ramp, so every output pixel comes from tiles where it lies at least 16 px from the edge,
    /// beyond which the border effects of the zero-padded convolutions measured small; the cost is
    /// (160 / 96)² ≈ 2.8 tile evaluations per tile-sized area.
    public static let defaultOverlap = 64

    /// `defaultOverlap`, shrunk for small tiles to at most half the tile and to a step that keeps
    /// tiles on the pooling grid.
    public static func defaultOverlap(tileSize: Int, alignment: Int) -> Int {
        var overlap = min(defaultOverlap, tileSize / 2)
        while overlap > 0 && (tileSize - overlap) % alignment != 0 { overlap -= 1 }
        return overlap
    }

    /// The overlap this predictor uses.
    public var overlap: Int { options.overlap ?? Self.defaultOverlap(tileSize: config.tileSize, alignment: 1 << config.depth) }

    public let options: PredictionOptions
    public let model: UNetModel
    public let config: UNetConfig
    public let normalization: Normalization
    public let legend: ClassLegend
    let painter: ClassPainter
    /// The values the tiling and assembling threads share.
    let settings: PredictionSettings

    /// White, the reference's background, unless a class of the model is white (a model that
    /// does not store its background): then the first of black and the greys that no class uses.
    static func unusedBackgroundColor(besides colors: [ClassLegend.Color]) -> ClassLegend.Color {
        let candidates = [ClassLegend.Color(255, 255, 255)] + stride(from: 0, through: 254, by: 1).map { ClassLegend.Color(UInt8($0), UInt8($0), UInt8($0)) }
        // 256 greys and at most 255 classes: one is always free.
        return candidates.first { !colors.contains($0) } ?? ClassLegend.Color(255, 255, 255)
    }

    /// Loads the model file and checks the options (an impossible one is a `UsageError`).
    public init(options: PredictionOptions) throws {
        self.options = options
        if let problem = options.problems.first { throw UsageError(problem) }
        let file = try ModelFile(contentsOfFile: options.modelPath, includeTraining: false)
        config = file.config
        normalization = try Normalization(file.normalization, bands: config.nChannels, path: options.modelPath)
        if let classes = file.classes {
            guard classes.count == config.nClasses else {
                throw PipelineError(path: options.modelPath, reason: "the legend names \(classes.count) classes but the model has \(config.nClasses)")
            }
            let colors = classes.map { ClassLegend.Color($0.red, $0.green, $0.blue) }
            let background = file.background.map {
                ClassLegend.Entry(id: ClassLegend.backgroundID, name: $0.name, color: ClassLegend.Color($0.red, $0.green, $0.blue))
            } ?? ClassLegend.Entry(id: ClassLegend.backgroundID, name: "background", color: Self.unusedBackgroundColor(besides: colors))
            do {
                legend = try ClassLegend(classes: [background] + classes.enumerated().map {
                    ClassLegend.Entry(id: UInt8($0.offset + 1), name: $0.element.name,
                                      color: ClassLegend.Color($0.element.red, $0.element.green, $0.element.blue))
                })
            } catch {
                throw PipelineError(path: options.modelPath, reason: "its class legend is invalid: \(error)")
            }
        } else {
            legend = config.nClasses == 5 ? .default : .generic(classCount: config.nClasses)
        }
        let overlap = options.overlap ?? Self.defaultOverlap(tileSize: config.tileSize, alignment: 1 << config.depth)
        if let problem = Self.overlapProblem(overlap, tileSize: config.tileSize, depth: config.depth) { throw UsageError(problem) }
        painter = ClassPainter(mode: options.paint, threshold: options.threshold, classes: config.nClasses)
        settings = PredictionSettings(options: options, config: config, normalization: normalization, legend: legend,
                                      painter: painter, overlap: overlap)
        model = try file.makeModel(precision: options.precision)
        model.convolutionAlgorithm = options.convolution
    }

    /// Why a model with these tiles cannot predict with this overlap, or nil when it can.
    public static func overlapProblem(_ overlap: Int, tileSize: Int, depth: Int) -> String? {
        let alignment = 1 << depth
        guard overlap >= 0, overlap <= tileSize / 2, (tileSize - overlap) % alignment == 0 else {
            return "--overlap \(overlap) must be at most half the tile size (\(tileSize / 2)) and leave a step that is a multiple of \(alignment)"
        }
        return nil
    }

    /// Creates the output folder and takes its `.segpipe.lock` shared: several `segpipe predict`
    /// may write to one folder, but not while a `segpipe run` holds it (exclusively), and a run
    /// cannot start while one is writing. Then removes what killed runs left there (temporary
    /// files of dead processes of this machine, and day-old ones). Throws `RunLockBusy` when a
    /// run holds it.
    public static func lockOutputFolder(_ folder: String) throws -> RunLock {
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw PipelineError(path: folder, reason: "cannot create the output folder (\(error.localizedDescription))")
        }
        let lock = try RunLock(path: (folder as NSString).appendingPathComponent(".segpipe.lock"), mode: .shared)
        AtomicFile.removeStaleTemporaries(in: folder)
        return lock
    }

    /// The scenes named by some arguments, and what cannot be predicted.
    public struct SceneList: Sendable {
        public var scenes: [String] = []
        /// Missing paths and folders that cannot be listed.
        public var unreadable: [PipelineError] = []
        /// Scenes whose outputs cannot be written: they would overwrite an earlier scene's
        /// (`a/x.tif` and `b/x.tif` both make `x.png`), or their names would not fit the file
        /// system (found now, not after the scene is predicted).
        public var collisions: [PipelineError] = []
        public var problems: [PipelineError] { unreadable + collisions }
    }

    /// The scenes named by the arguments: files as given, folders expanded to their TIFFs, sorted.
    /// `longestOutputSuffix` is that of the longest output name a scene gets (".prob.tif" when
    /// probabilities are written).
    public static func sceneList(_ arguments: [String], longestOutputSuffix: String = ".png") -> SceneList {
        var list = SceneList()
        var stems: [String: String] = [:]
        func add(_ path: String) {
            let stem = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
            if (stem + longestOutputSuffix).utf8.count > 255 {
                list.collisions.append(PipelineError(path: path, reason: "its output \(stem)\(longestOutputSuffix) would be a name longer than the file system's 255 bytes"))
                return
            }
            if let earlier = stems[stem] {
                // The same file listed twice (a folder and one of its files, a link and its
                // target) is one scene, not a clash with itself.
                if let identity = FileFingerprint.identity(of: earlier), identity == FileFingerprint.identity(of: path) { return }
                list.collisions.append(PipelineError(path: path, reason: "its outputs would overwrite those of \(earlier) (same name \(stem))"))
                return
            }
            stems[stem] = path
            list.scenes.append(path)
        }
        for argument in arguments {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory) else {
                list.unreadable.append(PipelineError(path: argument, reason: "no such file or folder"))
                continue
            }
            guard isDirectory.boolValue else {
                add(argument)
                continue
            }
            do {
                try TrainingDataset.listFiles(argument).filter {
                    TrainingDataset.imageExtensions.contains(($0 as NSString).pathExtension.lowercased())
                }.forEach { add((argument as NSString).appendingPathComponent($0)) }
            } catch let error as PipelineError {
                list.unreadable.append(error)
            } catch {
                list.unreadable.append(PipelineError(path: argument, reason: "\(error)"))
            }
        }
        return list
    }

    /// Predicts one scene and writes its outputs atomically into the output folder. Every error
    /// names the scene (or the file at fault).
    public func predict(scene path: String) throws -> ScenePrediction {
        var outcome: Result<ScenePrediction, any Error>?
        try predict(scenes: [path]) { _, result in
            outcome = result
            return true
        }
        guard let outcome else { throw PipelineError(path: path, reason: "was not predicted") }
        return try outcome.get()
    }

    /// Predicts the scenes in order, writing each one's outputs atomically into the output
    /// folder, and calls `completed` on the calling thread with each scene's result, in order, as
    /// its class map lands. A failing scene does not stop the others; its error names the scene
    /// (or the file at fault). `completed` returns false to stop: scenes in flight are then
    /// dropped unwritten, except one whose outputs are already being finished. Rethrows what `completed` throws, after the same stop.
    ///
    /// With `options.pipelined` a thread reads, tiles and packs batches (running on into the next
    /// scene while this one finishes) and another unpacks, stitches, paints and writes them, while
    /// the calling thread only runs the network; bounded queues keep two batches in flight on
    /// each side.
    ///
    /// Returns the seconds the network ran, for every batch it ran: those of scenes that then
    /// failed (on writing, say) count too, as they took the network's time all the same.
    @discardableResult
    public func predict(scenes paths: [String], completed: (String, Result<ScenePrediction, any Error>) throws -> Bool) throws -> Double {
        var networkSeconds = 0.0
        guard options.pipelined else {
            for (index, path) in paths.enumerated() {
                let result = Result { try predictSequentially(scene: index, path: path, networkSeconds: &networkSeconds) }
                guard try completed(path, result.mapError { Self.naming($0, path: path) }) else { return networkSeconds }
            }
            return networkSeconds
        }
        let settings = self.settings
        let toNetwork = BoundedChannel<ScenePipelineItem>(capacity: 2)
        let toAssembler = BoundedChannel<ScenePipelineItem>(capacity: 2)
        // One result per scene at most, so the assembler never waits on the calling thread.
        let results = BoundedChannel<(scene: Int, result: Result<ScenePrediction, any Error>)>(capacity: paths.count + 1)
        let abandoned = AbandonedScenes()
        let threadsDone = DispatchSemaphore(value: 0)

        let tiling = Thread {
            defer {
                toNetwork.close()
                threadsDone.signal()
            }
            Self.tile(paths, settings: settings, into: toNetwork, abandoned: abandoned)
        }
        tiling.name = "segpipe-tiler"
        let assembling = Thread {
            defer {
                results.close()
                threadsDone.signal()
            }
            Self.assemble(from: toAssembler, settings: settings, results: results, abandoned: abandoned)
        }
        assembling.name = "segpipe-assembler"
        tiling.start()
        assembling.start()
        defer {
            // Normally everything has ended by now; after a stop or a throw this ends the threads,
            // and their unfinished outputs are removed before this returns.
            toNetwork.cancel()
            toAssembler.cancel()
            results.cancel()
            threadsDone.wait()
            threadsDone.wait()
        }

        func deliver(_ scene: Int, _ result: Result<ScenePrediction, any Error>) throws -> Bool {
            try completed(paths[scene], result.mapError { Self.naming($0, path: paths[scene]) })
        }
        while let item = toNetwork.receive() {
            while let ready = results.poll() {
                guard try deliver(ready.scene, ready.result) else { return networkSeconds }
            }
            guard case .tiles(let tiles) = item else {
                toAssembler.send(item)
                continue
            }
            guard !abandoned.contains(tiles.scene) else { continue }
            let started = Date()
            do {
                let predictions = try runNetwork(tiles)
                networkSeconds += predictions.networkSeconds
                toAssembler.send(.predictions(predictions))
            } catch {
                networkSeconds += Date().timeIntervalSince(started)
                abandoned.insert(tiles.scene)
                toAssembler.send(.failed(scene: tiles.scene, error))
            }
        }
        toAssembler.close()
        while let ready = results.receive() {
            guard try deliver(ready.scene, ready.result) else { return networkSeconds }
        }
        return networkSeconds
    }

    /// Reads, tiles and runs the network and writes in turn on the calling thread.
    func predictSequentially(scene index: Int, path: String, networkSeconds: inout Double) throws -> ScenePrediction {
        var tiler = try SceneTiler(scene: index, path: path, settings: settings)
        var assembler = try SceneAssembler(layout: tiler.layout, settings: settings)
        while let tiles = try tiler.nextBatch() {
            let started = Date()
            let predictions = Result { try runNetwork(tiles) }
            // A failed batch took the network's time too.
            networkSeconds += Date().timeIntervalSince(started)
            try assembler.add(try predictions.get())
        }
        return try assembler.finish()
    }

    /// Runs a packed batch through the network, timing it.
    func runNetwork(_ tiles: ScenePipelineItem.Tiles) throws -> ScenePipelineItem.Predictions {
        let started = Date()
        let output = try model.forward(tiles.input, training: false)
        return .init(scene: tiles.scene, positions: tiles.positions, output: output, invalidRows: tiles.invalidRows,
                     networkSeconds: Date().timeIntervalSince(started))
    }

    /// The tiling thread: opens each scene in turn and sends its batches, bracketed by `begin`
    /// and `end`, or `failed` once it cannot go on; stops when the channel is cancelled.
    static func tile(_ paths: [String], settings: PredictionSettings, into channel: BoundedChannel<ScenePipelineItem>,
                     abandoned: AbandonedScenes) {
        for (index, path) in paths.enumerated() {
            var tiler: SceneTiler
            do {
                tiler = try SceneTiler(scene: index, path: path, settings: settings)
            } catch {
                guard channel.send(.failed(scene: index, error)) else { return }
                continue
            }
            guard channel.send(.begin(tiler.layout)) else { return }
            while !abandoned.contains(index) {
                let batch: ScenePipelineItem.Tiles?
                do {
                    batch = try tiler.nextBatch()
                } catch {
                    guard channel.send(.failed(scene: index, error)) else { return }
                    break
                }
                guard let batch else {
                    guard channel.send(.end(scene: index)) else { return }
                    break
                }
                guard channel.send(.tiles(batch)) else { return }
            }
        }
    }

    /// The assembling thread: writes each scene's predictions and sends one result per scene,
    /// until the channel is closed or cancelled (dropping, and so removing, an unfinished scene).
    static func assemble(from channel: BoundedChannel<ScenePipelineItem>, settings: PredictionSettings,
                         results: BoundedChannel<(scene: Int, result: Result<ScenePrediction, any Error>)>,
                         abandoned: AbandonedScenes) {
        var assembler: SceneAssembler?
        var reported: Set<Int> = []
        func report(_ scene: Int, _ result: Result<ScenePrediction, any Error>) {
            if case .failure = result { abandoned.insert(scene) }
            if assembler?.layout.scene == scene { assembler = nil }
            reported.insert(scene)
            results.send((scene, result))
        }
        while let item = channel.receive() {
            switch item {
            case .begin(let layout):
                do {
                    assembler = try SceneAssembler(layout: layout, settings: settings)
                } catch {
                    report(layout.scene, .failure(error))
                }
            case .predictions(let batch):
                guard assembler?.layout.scene == batch.scene else { continue }
                do {
                    try assembler?.add(batch)
                } catch {
                    report(batch.scene, .failure(error))
                }
            case .failed(let scene, let error):
                if !reported.contains(scene) { report(scene, .failure(error)) }
            case .end(let scene):
                guard var finishing = assembler, finishing.layout.scene == scene else { continue }
                report(scene, Result { try finishing.finish() })
            case .tiles:
                // Only the network turns tiles into predictions; nothing sends tiles here.
                continue
            }
        }
    }

    /// Errors from the file formats and the pipeline name their file; anything else gets the scene's name.
    static func naming(_ error: any Error, path: String) -> any Error {
        if error is RasterError || error is PipelineError { return error }
        return PipelineError(path: path, reason: "\(error)")
    }
}
