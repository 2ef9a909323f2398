import Foundation
import Raster

/// One training scene: an image and its mask, checked against each other and the model.
public struct TrainingScene: Sendable, Equatable {
    /// How a mask stores its labels.
    public enum MaskKind: Sendable, Equatable {
        /// One class id per pixel (0 background, 1...n classes, 255 no label): PNG or 1-band TIFF.
        case classMap
        /// One band per class, 0 or non-zero (0/1 or 0/255), several classes per pixel allowed.
        case multiLabel
    }

    public var name: String
    public var imagePath: String
    public var maskPath: String
    public var maskKind: MaskKind
    public var width: Int
    public var height: Int
    public var bands: Int
}

/// The scenes of a training run, paired by file stem (`scene7.tif` ↔ `scene7.png`, or
/// `scene7_mask.png` with a mask suffix) and validated up front: every problem is named.
public struct TrainingDataset: Sendable {
    public var scenes: [TrainingScene]

    public init(scenes: [TrainingScene]) { self.scenes = scenes }

    static let imageExtensions: Set<String> = ["tif", "tiff"]
    static let maskExtensions = ["png", "tif", "tiff"]

    /// Pairs and checks every scene; throws a `DatasetProblems` listing each problem, one per line.
    /// `channelsSource` says where `channels` comes from, for the message of a scene that differs.
    public static func scan(images: String, masks: String, maskSuffix: String = "",
                            channels: Int, channelsSource: String = "the model", classes: Int) throws -> TrainingDataset {
        let imageFiles = try listFiles(images).filter { imageExtensions.contains(($0 as NSString).pathExtension.lowercased()) }
        if imageFiles.isEmpty { throw PipelineError(path: images, reason: "no .tif or .tiff scenes in this folder") }
        // Extensions in any case (scene7.PNG), as evaluate pairs its truth files.
        let masksByStem = Dictionary(grouping: try listFiles(masks).filter {
            maskExtensions.contains(Evaluator.splitExtension($0).extension.lowercased())
        }, by: { Evaluator.splitExtension($0).stem })
        var scenes: [TrainingScene] = []
        var problems: [String] = []
        for imageName in imageFiles {
            let stem = (imageName as NSString).deletingPathExtension
            let imagePath = (images as NSString).appendingPathComponent(imageName)
            // With images and masks in one folder, the scene itself is no mask of its own.
            let candidates = (masksByStem[stem + maskSuffix] ?? []).sorted().filter {
                FileFingerprint.identity(of: (masks as NSString).appendingPathComponent($0)) != FileFingerprint.identity(of: imagePath)
            }
            guard let maskName = candidates.first else {
                problems.append("\(imagePath): no mask \(stem)\(maskSuffix).png, .tif or .tiff in \(masks)")
                continue
            }
            guard candidates.count == 1 else {
                problems.append("\(imagePath): more than one mask in \(masks): \(candidates.joined(separator: " and "))")
                continue
            }
            let maskPath = (masks as NSString).appendingPathComponent(maskName)
            do {
                scenes.append(try checkPair(name: stem, imagePath: imagePath, maskPath: maskPath,
                                            channels: channels, channelsSource: channelsSource, classes: classes))
            } catch {
                problems.append("\(error)")
            }
        }
        if !problems.isEmpty { throw DatasetProblems(problems: problems) }
        return TrainingDataset(scenes: scenes)
    }

    static func listFiles(_ folder: String) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw PipelineError(path: folder, reason: "is not a folder")
        }
        do {
            return try FileManager.default.contentsOfDirectory(atPath: folder).filter { !$0.hasPrefix(".") }.sorted()
        } catch {
            throw PipelineError(path: folder, reason: "cannot be listed (\(error.localizedDescription))")
        }
    }

    static func checkPair(name: String, imagePath: String, maskPath: String,
                          channels: Int, channelsSource: String, classes: Int) throws -> TrainingScene {
        let image = try TIFFReader(path: imagePath).info
        guard image.bands == channels else {
            throw PipelineError(path: imagePath, reason: "has \(image.bands) bands but \(channelsSource) has \(channels)")
        }
        let mask: RasterInfo
        let kind: TrainingScene.MaskKind
        switch try RasterFileKind.detect(path: maskPath) {
        case .png:
            // Gray, gray+alpha, palette, RGB or RGBA: `PNGMaskReader` reads them all.
            mask = try PNGReader(path: maskPath).info
            kind = .classMap
        case .tiff:
            mask = try TIFFReader(path: maskPath).info
            if mask.bands == 1 {
                kind = .classMap
            } else if mask.bands == classes {
                kind = .multiLabel
            } else {
                throw PipelineError(path: maskPath, reason: "a TIFF mask needs 1 band (class ids) or one band per class (\(classes)); it has \(mask.bands)")
            }
        }
        guard mask.width == image.width, mask.height == image.height else {
            throw PipelineError(path: maskPath, reason: "is \(mask.width)×\(mask.height) but its scene \(imagePath) is \(image.width)×\(image.height)")
        }
        return TrainingScene(name: name, imagePath: imagePath, maskPath: maskPath, maskKind: kind,
                             width: image.width, height: image.height, bands: image.bands)
    }
}

/// Several dataset problems at once, one line each.
public struct DatasetProblems: Error, CustomStringConvertible, Sendable {
    public var problems: [String]
    public var description: String { problems.joined(separator: "\n") }
}
