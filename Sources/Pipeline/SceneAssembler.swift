import Foundation
import Raster
import Tiling
import UNet

/// Turns a scene's network output back into its files: undoes each tile's transforms, blends the
/// tiles with a `Stitcher`, paints finished rows (nodata pixels 255) and writes them to the class
/// map and, on request, the probability TIFF.
///
/// Owns its writers, so it stays on the thread that made it; dropping it unfinished removes their
/// temporary files.
struct SceneAssembler {
    let layout: ScenePipelineItem.Layout
    private let settings: PredictionSettings
    private let classMap: ClassMapWriter
    private let probabilities: TIFFWriter?
    private let classMapPath: String
    private let probabilityPath: String
    private var stitcher: Stitcher
    private var invalidRows: [Int: [Bool]] = [:]
    private var classCounts: [Int]
    private var networkSeconds = 0.0

    /// Creates the output folder and starts the scene's outputs under temporary names.
    init(layout: ScenePipelineItem.Layout, settings: PredictionSettings) throws {
        let options = settings.options, info = layout.info, config = settings.config
        let stem = ((layout.path as NSString).lastPathComponent as NSString).deletingPathExtension
        classMapPath = (options.outputDirectory as NSString).appendingPathComponent(stem + ".png")
        probabilityPath = (options.outputDirectory as NSString).appendingPathComponent(stem + ".prob.tif")
        try FileManager.default.createDirectory(atPath: options.outputDirectory, withIntermediateDirectories: true)
        classMap = try ClassMapWriter(path: classMapPath, width: info.width, height: info.height, legend: settings.legend)
        probabilities = options.writeProbabilities
            ? try TIFFWriter(path: probabilityPath, width: info.width, height: info.height, bands: config.nClasses,
                             sampleType: .float32, layout: .tiled(width: 256, height: 256), compression: .deflate,
                             // Every GeoTIFF tag, ground control points included, which no
                             // world file can express.
                             geoReference: layout.geoReference.isEmpty ? nil : layout.geoReference,
                             // Pixels with a missing sample (nodata; in a float scene also NaN or
                             // infinite) are NaN in every band, as the class map's are 255.
                             nodata: info.nodata != nil || info.sampleType.isFloatingPoint ? .nan : nil)
            : nil
        stitcher = Stitcher(grid: layout.grid, channels: config.nClasses)
        classCounts = [Int](repeating: 0, count: config.nClasses + 1)
        self.layout = layout
        self.settings = settings
    }

    /// Blends a batch's predictions in (averaging each tile's transforms through their
    /// inverses) and writes the rows that are finished.
    mutating func add(_ batch: ScenePipelineItem.Predictions) throws {
        invalidRows.merge(batch.invalidRows) { old, _ in old }
        networkSeconds += batch.networkSeconds
        let t = settings.config.tileSize, plane = t * t, classes = settings.config.nClasses
        let transforms = settings.transforms
        let scale = 1 / Float(transforms.count)
        let destinations = transforms.map { $0.destinationIndices(side: t) }
        for (i, position) in batch.positions.enumerated() {
            var mean = [Float](repeating: 0, count: classes * plane)
            batch.output.values.withUnsafeBufferPointer { result in
                mean.withUnsafeMutableBufferPointer { sum in
                    for (k, destination) in destinations.enumerated() {
                        let base = (i * transforms.count + k) * plane * classes
                        for pixel in 0..<plane {
                            let from = base + destination[pixel] * classes
                            for cls in 0..<classes { sum[cls * plane + pixel] += result[from + cls] * scale }
                        }
                    }
                }
            }
            try stitcher.add(RasterBuffer(bands: classes, width: t, height: t, values: mean), row: position.row, column: position.column)
        }
        try writeFinishedRows()
    }

    /// Writes the last rows and lands the outputs, the class map last, so a scene with a class
    /// map has all its outputs.
    mutating func finish() throws -> ScenePrediction {
        try stitcher.finish()
        try writeFinishedRows()
        let georeferenced = layout.geoReference.isGeoreferenced
        try probabilities?.finish()
        try classMap.finish(geoReference: georeferenced ? layout.geoReference : nil)

        var outputs = [classMapPath]
        if georeferenced { outputs.append((classMapPath as NSString).deletingPathExtension + ".pgw") }
        if probabilities != nil { outputs.append(probabilityPath) }
        let valid = Double(max(classCounts.reduce(0, +), 1))
        return ScenePrediction(scene: layout.path, outputs: outputs, seconds: Date().timeIntervalSince(layout.started),
                               networkSeconds: networkSeconds, tiles: layout.grid.tileCount,
                               classFractions: classCounts.map { Double($0) / valid })
    }

    private mutating func writeFinishedRows() throws {
        let width = layout.info.width, classes = settings.config.nClasses
        while let (first, finished) = stitcher.takeFinishedRows() {
            var rows = finished
            var ids = settings.painter.paint(classMajor: rows.values, pixels: rows.height * width, classes: classes)
            for r in 0..<rows.height {
                if let invalid = invalidRows.removeValue(forKey: first + r) {
                    for x in 0..<width where invalid[x] {
                        ids[r * width + x] = ClassLegend.ignoreValue
                        for c in 0..<classes { rows[c, r, x] = .nan }
                    }
                }
            }
            for id in ids where id != ClassLegend.ignoreValue { classCounts[Int(id)] += 1 }
            try classMap.writeRows(ids)
            try probabilities?.writeRows(rows)
        }
    }
}
