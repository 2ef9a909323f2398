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
/// width, never with its area.
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

    /// Loads the model file and checks the options (an impossible one is a `UsageError`).
    public init(options: PredictionOptions) throws {
        self.options = options
        guard options.batchSize >= 1 && options.batchSize <= 1024 else {
            throw UsageError("--batch-size must be between 1 and 1024")
        }
        guard options.threshold >= 0 && options.threshold <= 1 else {
            throw UsageError("--threshold must be between 0 and 1")
        }
        let file = try ModelFile(contentsOfFile: options.modelPath, includeTraining: false)
        config = file.config
        normalization = try Normalization(file.normalization, bands: config.nChannels, path: options.modelPath)
        if let classes = file.classes {
            guard classes.count == config.nClasses else {
                throw PipelineError(path: options.modelPath, reason: "the legend names \(classes.count) classes but the model has \(config.nClasses)")
            }
            let background = ClassLegend.Entry(id: ClassLegend.backgroundID, name: "background", color: ClassLegend.Color(255, 255, 255))
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
        let alignment = 1 << config.depth
        let overlap = options.overlap ?? Self.defaultOverlap(tileSize: config.tileSize, alignment: alignment)
        guard overlap >= 0, 2 * overlap <= config.tileSize, (config.tileSize - overlap) % alignment == 0 else {
            throw UsageError("--overlap \(overlap) must be at most half the tile size (\(config.tileSize / 2)) and leave a step that is a multiple of \(alignment)")
        }
        painter = ClassPainter(mode: options.paint, threshold: options.threshold, classes: config.nClasses)
        model = try file.makeModel(precision: options.precision)
    }

    /// The scenes named by the arguments: files as given, folders expanded to their TIFFs, sorted;
    /// throws the first problem (see `sceneList(_:)`).
    public static func scenes(in arguments: [String]) throws -> [String] {
        let list = sceneList(arguments)
        if let problem = list.problems.first { throw problem }
        return list.scenes
    }

    /// The scenes named by the arguments, and the arguments that cannot be predicted: missing
    /// paths, unreadable folders, and scenes whose outputs would collide with an earlier one's
    /// (`a/x.tif` and `b/x.tif` both make `x.png`).
    public static func sceneList(_ arguments: [String]) -> (scenes: [String], problems: [PipelineError]) {
        var scenes: [String] = []
        var problems: [PipelineError] = []
        var stems: [String: String] = [:]
        func add(_ path: String) {
            let stem = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
            if let earlier = stems[stem] {
                problems.append(PipelineError(path: path, reason: "its outputs would overwrite those of \(earlier) (same name \(stem))"))
                return
            }
            stems[stem] = path
            scenes.append(path)
        }
        for argument in arguments {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory) else {
                problems.append(PipelineError(path: argument, reason: "no such file or folder"))
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
                problems.append(error)
            } catch {
                problems.append(PipelineError(path: argument, reason: "\(error)"))
            }
        }
        return (scenes, problems)
    }

    /// Predicts one scene and writes its outputs atomically into the output folder. Every error
    /// names the scene (or the file at fault).
    public func predict(scene path: String) throws -> ScenePrediction {
        do {
            return try predictScene(path)
        } catch let error as RasterError {
            throw error
        } catch let error as PipelineError {
            throw error
        } catch {
            throw PipelineError(path: path, reason: "\(error)")
        }
    }

    func predictScene(_ path: String) throws -> ScenePrediction {
        let started = Date()
        let reader = try TIFFReader(path: path)
        let info = reader.info
        guard info.bands == config.nChannels else {
            throw PipelineError(path: path, reason: "has \(info.bands) bands but the model takes \(config.nChannels)")
        }
        let grid = try TileGrid(width: info.width, height: info.height, tileSize: config.tileSize,
                                overlap: overlap, alignment: 1 << config.depth)
        let stem = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        let classMapPath = (options.outputDirectory as NSString).appendingPathComponent(stem + ".png")
        let probabilityPath = (options.outputDirectory as NSString).appendingPathComponent(stem + ".prob.tif")
        try FileManager.default.createDirectory(atPath: options.outputDirectory, withIntermediateDirectories: true)

        let classMap = try ClassMapWriter(path: classMapPath, width: info.width, height: info.height, legend: legend)
        let probabilities = options.writeProbabilities
            ? try TIFFWriter(path: probabilityPath, width: info.width, height: info.height, bands: config.nClasses,
                             sampleType: .float32, layout: .tiled(width: 256, height: 256), compression: .deflate,
                             geoReference: reader.geoReference.isGeoreferenced ? reader.geoReference : nil)
            : nil
        var stitcher = Stitcher(grid: grid, channels: config.nClasses)
        var invalidRows: [Int: [Bool]] = [:]
        var classCounts = [Int](repeating: 0, count: config.nClasses + 1)
        var networkSeconds = 0.0
        let t = config.tileSize

        func emitFinishedRows() throws {
            while let (first, rows) = stitcher.takeFinishedRows() {
                let pixels = rows.height * info.width
                var ids = painter.paint(classMajor: rows.values, pixels: pixels, classes: config.nClasses)
                for r in 0..<rows.height {
                    if let invalid = invalidRows.removeValue(forKey: first + r) {
                        for x in 0..<info.width where invalid[x] { ids[r * info.width + x] = ClassLegend.ignoreValue }
                    }
                }
                for id in ids where id != ClassLegend.ignoreValue { classCounts[Int(id)] += 1 }
                try classMap.writeRows(ids)
                try probabilities?.writeRows(rows)
            }
        }

        var pending: [(row: Int, column: Int, tile: RasterBuffer)] = []
        for (row, y0) in grid.rowOrigins.enumerated() {
            let span = PixelWindow(x: grid.columnOrigins[0], y: y0,
                                   width: (grid.columnOrigins.last ?? 0) + t - grid.columnOrigins[0], height: t)
            let source = grid.sourceWindow(for: span)
            let band = try reader.readWindow(source)
            recordInvalidRows(band, source: source, nodata: info.nodata, into: &invalidRows)
            for (column, x0) in grid.columnOrigins.enumerated() {
                var tile = ReflectPadding.extract(PixelWindow(x: x0, y: y0, width: t, height: t), from: band, at: source,
                                                  width: info.width, height: info.height)
                normalization.apply(to: &tile, nodata: info.nodata)
                pending.append((row, column, tile))
                if pending.count == options.batchSize {
                    try run(pending, into: &stitcher, networkSeconds: &networkSeconds)
                    pending.removeAll(keepingCapacity: true)
                    try emitFinishedRows()
                }
            }
        }
        if !pending.isEmpty { try run(pending, into: &stitcher, networkSeconds: &networkSeconds) }
        try stitcher.finish()
        try emitFinishedRows()
        // The class map lands last, so a scene with a class map has all its outputs.
        try probabilities?.finish()
        try classMap.finish(geoReference: reader.geoReference.isGeoreferenced ? reader.geoReference : nil)

        var outputs = [classMapPath]
        if reader.geoReference.isGeoreferenced {
            outputs.append((options.outputDirectory as NSString).appendingPathComponent(stem + ".pgw"))
        }
        if options.writeProbabilities { outputs.append(probabilityPath) }
        let valid = Double(max(classCounts.reduce(0, +), 1))
        return ScenePrediction(scene: path, outputs: outputs, seconds: Date().timeIntervalSince(started),
                               networkSeconds: networkSeconds, tiles: grid.tileCount, classFractions: classCounts.map { Double($0) / valid })
    }

    /// Marks pixels where any band is nodata or NaN, per scene row.
    func recordInvalidRows(_ band: RasterBuffer, source: PixelWindow, nodata: Double?, into rows: inout [Int: [Bool]]) {
        let missing = nodata.map { Float($0) }
        let plane = band.planeSize
        for r in 0..<band.height where rows[source.y + r] == nil {
            var flags = [Bool](repeating: false, count: band.width)
            var any = false
            for b in 0..<band.bands {
                let base = b * plane + r * band.width
                for x in 0..<band.width {
                    let v = band.values[base + x]
                    if v.isNaN || v == missing {
                        flags[x] = true
                        any = true
                    }
                }
            }
            if any { rows[source.y + r] = flags }
        }
    }

    /// Runs a batch of tiles and adds the predictions to the stitcher. A short last batch is
    /// padded only to the next power of two, so a scene's remainder costs little and the model
    /// keeps a handful of batch shapes whose primitives it reuses. Each transform is applied while
    /// packing the NHWC input and undone while reading the output, so no transformed copy is made.
    func run(_ tiles: [(row: Int, column: Int, tile: RasterBuffer)], into stitcher: inout Stitcher,
             networkSeconds: inout Double) throws {
        let t = config.tileSize, plane = t * t
        let channels = config.nChannels, classes = config.nClasses
        let transforms: [DihedralTransform] = options.testTimeAugmentation ? DihedralTransform.allCases : [.identity]
        var batch = 1
        while batch < tiles.count { batch *= 2 }
        let slots = min(batch, options.batchSize) * transforms.count
        var input = [Float](repeating: 0, count: slots * plane * channels)
        input.withUnsafeMutableBufferPointer { packed in
            for (i, entry) in tiles.enumerated() {
                entry.tile.values.withUnsafeBufferPointer { source in
                    for (k, transform) in transforms.enumerated() {
                        let base = (i * transforms.count + k) * plane * channels
                        for r in 0..<t {
                            for c in 0..<t {
                                let d = transform.destination(row: r, column: c, height: t, width: t)
                                let target = base + (d.row * t + d.column) * channels
                                for ch in 0..<channels { packed[target + ch] = source[ch * plane + r * t + c] }
                            }
                        }
                    }
                }
            }
        }
        let forwardStarted = Date()
        let output = try model.forward(HostTensor(shape: [slots, t, t, channels], values: input), training: false)
        networkSeconds += Date().timeIntervalSince(forwardStarted)
        let scale = 1 / Float(transforms.count)
        for (i, entry) in tiles.enumerated() {
            var mean = [Float](repeating: 0, count: classes * plane)
            output.values.withUnsafeBufferPointer { result in
                mean.withUnsafeMutableBufferPointer { sum in
                    for (k, transform) in transforms.enumerated() {
                        let base = (i * transforms.count + k) * plane * classes
                        for r in 0..<t {
                            for c in 0..<t {
                                let d = transform.destination(row: r, column: c, height: t, width: t)
                                let from = base + (d.row * t + d.column) * classes
                                for cls in 0..<classes { sum[cls * plane + r * t + c] += result[from + cls] * scale }
                            }
                        }
                    }
                }
            }
            try stitcher.add(RasterBuffer(bands: classes, width: t, height: t, values: mean), row: entry.row, column: entry.column)
        }
    }
}
