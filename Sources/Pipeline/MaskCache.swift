import Foundation
import Raster

/// Random access to training masks, and their class frequencies.
///
/// PNG masks can only be read from the top, so each is converted once per run, streaming, into a
/// tiled 8-bit class-id TIFF in a private temporary folder; random training windows then decode
/// only the tiles they touch. The same pass checks every label and counts class pixels in the
/// training rows. TIFF masks are read in place. The folder is removed with the cache.
public final class MaskCache {
    public let directory: String
    /// Per scene name, the TIFF to read labels from (a converted class map, or the original TIFF).
    public private(set) var labelPaths: [String: String] = [:]
    /// Pixels per class id 0...classes in the training rows (unlabelled pixels excluded).
    public private(set) var classPixelCounts: [Int]

    static let folderPrefix = "segpipe-masks-"
    /// Locked for the cache's life. A `flock` ends with its process however the process ends, and
    /// unlike a PID it cannot be mistaken for another process's: in containers every run is PID 1.
    static let lockName = ".in-use"
    /// A cache is locked microseconds after its folder is made; a sweep leaves younger ones alone
    /// so that it never takes the lock of one being created.
    static let creationGrace: TimeInterval = 60

    private var lock: RunLock?

    /// Removes the caches of runs that were killed, which no `deinit` removed: each is as large
    /// as the dataset's masks. A cache is abandoned when nobody holds its lock; one written before
    /// caches were locked, when its process no longer exists.
    static func removeAbandonedCaches(in base: String, now: Date = Date()) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
        for name in names where name.hasPrefix(folderPrefix) {
            let folder = (base as NSString).appendingPathComponent(name)
            let lockPath = (folder as NSString).appendingPathComponent(lockName)
            if FileManager.default.fileExists(atPath: lockPath) {
                guard let created = (try? FileManager.default.attributesOfItem(atPath: folder))?[.modificationDate] as? Date,
                      now.timeIntervalSince(created) > creationGrace,
                      let probe = try? RunLock(path: lockPath, mode: .exclusive) else { continue }
                try? FileManager.default.removeItem(atPath: folder)
                withExtendedLifetime(probe) {}
            } else {
                guard let pid = name.dropFirst(folderPrefix.count).split(separator: "-").first.flatMap({ Int32($0) }),
                      !TemporaryFileName.isRunning(pid) else { continue }
                try? FileManager.default.removeItem(atPath: folder)
            }
        }
    }

    public init(dataset: TrainingDataset, classes: Int, legend: ClassLegend,
                trainingRows: (TrainingScene) -> Int) throws {
        let base = FileManager.default.temporaryDirectory.path
        Self.removeAbandonedCaches(in: base)
        directory = (base as NSString).appendingPathComponent("\(Self.folderPrefix)\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        classPixelCounts = [Int](repeating: 0, count: classes + 1)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw PipelineError(path: directory, reason: "cannot create the mask cache (\(error.localizedDescription))")
        }
        lock = try RunLock(path: (directory as NSString).appendingPathComponent(Self.lockName), mode: .exclusive)
        for scene in dataset.scenes {
            let rows = trainingRows(scene)
            switch (scene.maskKind, try RasterFileKind.detect(path: scene.maskPath)) {
            case (.classMap, .png):
                labelPaths[scene.name] = try convertPNG(scene, classes: classes, legend: legend, trainingRows: rows)
            case (.classMap, .tiff):
                try countTIFFClassMap(scene, classes: classes, trainingRows: rows)
                labelPaths[scene.name] = scene.maskPath
            case (.multiLabel, _):
                try countMultiLabel(scene, classes: classes, trainingRows: rows)
                labelPaths[scene.name] = scene.maskPath
            }
        }
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
        lock = nil
    }

    /// Fraction of labelled training pixels per class 1...classes (background excluded).
    public var classFrequencies: [Double] {
        let total = Double(max(classPixelCounts.reduce(0, +), 1))
        return classPixelCounts.dropFirst().map { Double($0) / total }
    }

    func convertPNG(_ scene: TrainingScene, classes: Int, legend: ClassLegend, trainingRows: Int) throws -> String {
        let reader = try PNGMaskReader(path: scene.maskPath, legend: legend)
        let path = (directory as NSString).appendingPathComponent(scene.name + ".labels.tif")
        let writer = try TIFFWriter(path: path, width: scene.width, height: scene.height, bands: 1,
                                    sampleType: .uint8, layout: .tiled(width: 256, height: 256), compression: .deflate)
        let rowsPerRead = 64
        var y = 0
        while y < scene.height {
            let rows = min(rowsPerRead, scene.height - y)
            let ids = try reader.readRows(rows)
            try check(ids, y: y, width: scene.width, classes: classes, path: scene.maskPath, trainingRows: trainingRows)
            try writer.writeRows(RasterBuffer(bands: 1, width: scene.width, height: rows, values: ids.map { Float($0) }))
            y += rows
        }
        try writer.finish()
        return path
    }

    func countTIFFClassMap(_ scene: TrainingScene, classes: Int, trainingRows: Int) throws {
        let reader = try TIFFReader(path: scene.maskPath)
        let area = PixelWindow(x: 0, y: 0, width: scene.width, height: scene.height)
        try BlockReader(reader).forEachWindow(in: area) { window, buffer in
            var ids = [UInt8](repeating: 0, count: buffer.values.count)
            for (i, v) in buffer.values.enumerated() {
                // The mask's nodata value (read as NaN) means "no label", as in evaluation.
                if v.isNaN {
                    ids[i] = ClassLegend.ignoreValue
                    continue
                }
                guard v >= 0, v <= 255, v == v.rounded() else {
                    throw PipelineError(path: scene.maskPath, reason: "label \(v) at pixel (\(window.x + i % window.width), \(window.y + i / window.width)) is not a class id")
                }
                ids[i] = UInt8(v)
            }
            // Windows may not span full rows: count and check them row by row.
            for r in 0..<window.height {
                let row = Array(ids[(r * window.width)..<((r + 1) * window.width)])
                try check(row, y: window.y + r, width: window.width, classes: classes, path: scene.maskPath,
                          trainingRows: trainingRows, xOffset: window.x)
            }
        }
    }

    /// Counts the training rows' classes and checks every value: 0, or 1 or 255 for "this class";
    /// NaN or the mask's nodata value in any band means "no label", as in a class-id mask.
    func countMultiLabel(_ scene: TrainingScene, classes: Int, trainingRows: Int) throws {
        let reader = try TIFFReader(path: scene.maskPath)
        let area = PixelWindow(x: 0, y: 0, width: scene.width, height: scene.height)
        try BlockReader(reader).forEachWindow(in: area) { window, buffer in
            let plane = buffer.planeSize
            for i in 0..<plane {
                if (0..<classes).contains(where: { buffer.values[$0 * plane + i].isNaN }) { continue }
                var any = false
                for c in 0..<classes {
                    let v = buffer.values[c * plane + i]
                    guard v == 0 || v == 1 || v == 255 else {
                        throw PipelineError(path: scene.maskPath, reason: "value \(v) in band \(c + 1) at pixel (\(window.x + i % window.width), \(window.y + i / window.width)) is not 0 (absent) or 1 or 255 (present)")
                    }
                    if v > 0 { any = true }
                }
                guard window.y + i / window.width < trainingRows else { continue }
                for c in 0..<classes where buffer.values[c * plane + i] > 0 { classPixelCounts[c + 1] += 1 }
                if !any { classPixelCounts[0] += 1 }
            }
        }
    }

    func check(_ ids: [UInt8], y: Int, width: Int, classes: Int, path: String, trainingRows: Int, xOffset: Int = 0) throws {
        for (i, id) in ids.enumerated() {
            let row = y + i / width
            if id == ClassLegend.ignoreValue { continue }
            guard Int(id) <= classes else {
                throw PipelineError(path: path, reason: "class id \(id) at pixel (\(xOffset + i % width), \(row)) exceeds the model's \(classes) classes (255 marks no label)")
            }
            if row < trainingRows { classPixelCounts[Int(id)] += 1 }
        }
    }
}
