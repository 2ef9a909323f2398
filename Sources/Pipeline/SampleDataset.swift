import Foundation
import Raster

/// The synthetic dataset shipped under `sample-data/`: `images/sceneN.tif` (8-band uint16,
/// georeferenced) and `masks/sceneN.png` (palette PNG, default legend). Deterministic: the same
/// arguments give the same bytes.
public struct SampleDataset: Sendable {
    public static let defaultSceneCount = 6
    public static let defaultWidth = 400
    public static let defaultHeight = 400
    public static let defaultSeed: UInt64 = 2026

    /// Rows rendered and written at a time: memory stays proportional to the width.
    static let rowsPerBand = 32

    public var sceneCount: Int
    public var width: Int
    public var height: Int
    public var seed: UInt64

    public init(sceneCount: Int, width: Int, height: Int, seed: UInt64) {
        self.sceneCount = sceneCount
        self.width = width
        self.height = height
        self.seed = seed
    }

    /// Parses `WIDTHxHEIGHT`; nil unless both sides are in 16...100000.
    public static func parseSize(_ text: String) -> (Int, Int)? {
        let parts = text.lowercased().split(separator: "x").map { Int($0) }
        guard parts.count == 2, let w = parts[0], let h = parts[1],
              (16...100_000).contains(w), (16...100_000).contains(h) else { return nil }
        return (w, h)
    }

    /// The seed of scene `index`, decorrelated from its neighbours'.
    func sceneSeed(_ index: Int) -> UInt64 {
        var mixer = SplitMix64(seed: seed ^ (UInt64(index) &* 0x9E37_79B9_7F4A_7C15))
        return mixer.next()
    }

    /// Georeferencing of scene `index`: 0.5 m pixels in WGS 84 / UTM zone 31N, scenes side by side.
    func geoReference(_ index: Int) -> GeoReference {
        GeoReference(
            modelPixelScale: [0.5, 0.5, 0],
            modelTiepoint: [0, 0, 0, 500_000 + Double(index) * Double(width) * 0.5, 5_500_000, 0],
            geoKeyDirectory: [1, 1, 0, 4,
                              1024, 0, 1, 1,       // GTModelType: projected
                              1025, 0, 1, 1,       // GTRasterType: pixel is area
                              3072, 0, 1, 32631,   // ProjectedCSType: EPSG 32631
                              3076, 0, 1, 9001])   // ProjLinearUnits: metre
    }

    /// Bytes a pixel takes on disk, scene and mask together: the Deflated 8×16-bit samples
    /// measured 9.9, the mask 0.03.
    static let bytesPerPixel = 10

    /// About how many bytes `write(to:)` puts on disk.
    public var estimatedBytes: Int {
        let (pixels, pixelsOverflow) = width.multipliedReportingOverflow(by: height)
        let (perScene, perSceneOverflow) = pixels.multipliedReportingOverflow(by: Self.bytesPerPixel)
        let (total, totalOverflow) = perScene.multipliedReportingOverflow(by: sceneCount)
        return pixelsOverflow || perSceneOverflow || totalOverflow ? .max : total
    }

    /// Writes every scene and mask; returns the paths written, in order. Refuses, before writing
    /// anything, when the file system lacks the space for them.
    @discardableResult
    public func write(to directory: String) throws -> [String] {
        let images = (directory as NSString).appendingPathComponent("images")
        let masks = (directory as NSString).appendingPathComponent("masks")
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw RasterError(path: directory, reason: "is a file, not a folder")
        }
        // What a killed earlier run left (a scene of a large --size is large), before the space
        // it takes is counted.
        for folder in [images, masks] { AtomicFile.removeStaleTemporaries(in: folder) }
        try checkFreeSpace(directory: directory, images: images, masks: masks)
        for folder in [images, masks] {
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                throw RasterError(path: folder, reason: "cannot create folder (\(error.localizedDescription))")
            }
        }
        var written: [String] = []
        for index in 1...sceneCount {
            let name = "scene\(index)"
            let imagePath = (images as NSString).appendingPathComponent(name + ".tif")
            let maskPath = (masks as NSString).appendingPathComponent(name + ".png")
            try writeScene(index: index, imagePath: imagePath, maskPath: maskPath)
            written.append(imagePath)
            written.append(maskPath)
        }
        return written
    }

    /// Filling the disk would fail at some scene after minutes of work, and take space the
    /// machine's other jobs need.
    func checkFreeSpace(directory: String, images: String, masks: String) throws {
        var existing = URL(fileURLWithPath: directory)
        while !FileManager.default.fileExists(atPath: existing.path) && existing.path != "/" {
            existing.deleteLastPathComponent()
        }
        guard let attributes = try? FileManager.default.attributesOfFileSystem(forPath: existing.path),
              let free = (attributes[.systemFreeSize] as? NSNumber)?.int64Value else { return }
        // Files this run replaces give their space back.
        var replaced: Int64 = 0
        for index in 1...sceneCount {
            for path in [(images as NSString).appendingPathComponent("scene\(index).tif"),
                         (masks as NSString).appendingPathComponent("scene\(index).png")] {
                replaced += ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value ?? 0
            }
        }
        let needed = Int64(estimatedBytes)
        // A tenth more: the estimate is an average, and a disk filled to the last byte helps nobody.
        guard needed <= (free + replaced) - (free + replaced) / 11 else {
            throw PipelineError(path: directory, reason: "\(sceneCount) scene\(sceneCount == 1 ? "" : "s") of \(width)×\(height) need about \(Self.size(needed)) and the file system has \(Self.size(free + replaced)) free")
        }
    }

    static func size(_ bytes: Int64) -> String {
        bytes >= 1_000_000_000 ? String(format: "%.1f GB", Double(bytes) / 1e9) : String(format: "%.1f MB", Double(bytes) / 1e6)
    }

    func writeScene(index: Int, imagePath: String, maskPath: String) throws {
        let scene = SyntheticScene(width: width, height: height, seed: sceneSeed(index))
        let image = try TIFFWriter(
            path: imagePath, width: width, height: height, bands: SyntheticScene.bandCount,
            sampleType: .uint16, layout: .stripped(rowsPerStrip: Self.rowsPerBand),
            compression: .deflate, geoReference: geoReference(index))
        let mask = try ClassMapWriter(path: maskPath, width: width, height: height, legend: .default)
        var y = 0
        while y < height {
            let rows = min(Self.rowsPerBand, height - y)
            let (bands, classes) = scene.renderRows(from: y, count: rows)
            try image.writeRows(RasterBuffer(bands: SyntheticScene.bandCount, width: width, height: rows,
                                             values: bands.map { Float($0) }))
            try mask.writeRows(classes)
            y += rows
        }
        try image.finish()
        try mask.finish()
    }
}
