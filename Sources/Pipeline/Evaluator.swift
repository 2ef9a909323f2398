import Foundation
import Raster

/// Compares predicted class maps with ground truth, scene by scene, streaming rows.
///
/// Every PNG in the predictions folder is a scene; its truth is the file in the truth folder with
/// the same stem plus `truthSuffix` and the extension `.png`, `.tif` or `.tiff` (`scene7.png` ↔
/// `scene7.tif`, or `scene7_mask.png` with the suffix `_mask`). Both are read as class ids by
/// `ClassMapReader`: a PNG's palette indices or gray values are ids and its RGB colours map
/// through the legend; a truth TIFF is a single band of ids. 255 is "no label" in both. Truth
/// files without a prediction are not evaluated and not reported: the predictions decide which
/// scenes count.
public struct Evaluator: Sendable {
    public var legend: ClassLegend
    /// Put between the scene's stem and the truth file's extension.
    public var truthSuffix: String
    /// Rows read per step; memory is this many rows of each file, never the whole image. 256 is a
    /// common TIFF tile height and a multiple of the usual strip heights, so a truth TIFF's
    /// blocks are decoded once.
    public var rowsPerRead = 256

    /// Extensions tried for a truth file, in this order.
    static let truthExtensions = ["png", "tif", "tiff"]

    public init(legend: ClassLegend = .default, truthSuffix: String = "") {
        self.legend = legend
        self.truthSuffix = truthSuffix
    }

    /// An evaluator whose legend is read from `legendPath` (JSON or YAML), or the default legend.
    public init(legendPath: String?, truthSuffix: String = "") throws {
        self.init(legend: try legendPath.map { try ClassLegend.load(path: $0) } ?? .default,
                  truthSuffix: truthSuffix)
    }

    /// Evaluates every prediction PNG in `predictionsDirectory` against `truthDirectory`. A scene
    /// that cannot be evaluated becomes a failure in the report and the others go on. Throws only
    /// when a folder cannot be listed or holds no prediction PNG.
    /// `stopRequested` is asked before each scene; when it returns true the evaluation throws
    /// `CancellationError`.
    public func evaluate(predictions predictionsDirectory: String, truth truthDirectory: String,
                         stopRequested: () -> Bool = { false }) throws -> EvaluationReport
    {
        let predictionNames = try Self.listFiles(predictionsDirectory).filter {
            Self.splitExtension($0).extension.lowercased() == "png"
        }
        guard !predictionNames.isEmpty else {
            throw RasterError(path: predictionsDirectory, reason: "no prediction PNGs in this folder")
        }
        let truthByStem = Dictionary(
            grouping: try Self.listFiles(truthDirectory).filter {
                Self.truthExtensions.contains(Self.splitExtension($0).extension.lowercased())
            },
            by: { Self.splitExtension($0).stem })

        var scenes: [SceneEvaluation] = []
        var failures: [EvaluationFailure] = []
        for name in predictionNames {
            if stopRequested() { throw CancellationError() }
            let scene = Self.splitExtension(name).stem
            let predictionPath = Self.join(predictionsDirectory, name)
            let candidates = (truthByStem[scene + truthSuffix] ?? []).sorted {
                Self.extensionRank($0) < Self.extensionRank($1)
            }
            guard let truthName = candidates.first else {
                let expected = Self.join(truthDirectory, scene + truthSuffix)
                failures.append(EvaluationFailure(
                    scene: scene, predictionPath: predictionPath, truthPath: nil,
                    message: "\(predictionPath): no truth file \(expected).png, .tif or .tiff"))
                continue
            }
            let truthPath = Self.join(truthDirectory, truthName)
            guard candidates.count == 1 else {
                let all = candidates.map { Self.join(truthDirectory, $0) }.joined(separator: " and ")
                failures.append(EvaluationFailure(
                    scene: scene, predictionPath: predictionPath, truthPath: nil,
                    message: "\(predictionPath): more than one truth file: \(all)"))
                continue
            }
            do {
                let matrix = try evaluateScene(prediction: predictionPath, truth: truthPath)
                scenes.append(SceneEvaluation(scene: scene, predictionPath: predictionPath,
                                              truthPath: truthPath, matrix: matrix))
            } catch {
                failures.append(EvaluationFailure(
                    scene: scene, predictionPath: predictionPath, truthPath: truthPath,
                    message: Self.oneLine(error)))
            }
        }
        return EvaluationReport(legend: legend, scenes: scenes, failures: failures)
    }

    /// The confusion matrix of one prediction against its truth. Errors are one line naming the
    /// file at fault, or both files when their sizes differ.
    public func evaluateScene(prediction predictionPath: String, truth truthPath: String) throws -> ConfusionMatrix {
        let prediction = try ClassMapReader(path: predictionPath, legend: legend)
        let truth = try ClassMapReader(path: truthPath, legend: legend)
        let (width, height) = (prediction.width, prediction.height)
        guard truth.width == width, truth.height == height else {
            throw RasterError(
                path: predictionPath,
                reason: "is \(width)×\(height) but its truth \(truthPath) is \(truth.width)×\(truth.height)")
        }
        var matrix = ConfusionMatrix(legend: legend)
        let step = max(1, rowsPerRead)
        var predicted = [UInt8](repeating: 0, count: step * width)
        var expected = [UInt8](repeating: 0, count: step * width)
        var row = 0
        while row < height {
            let count = min(step, height - row)
            let used = count * width
            try predicted.withUnsafeMutableBufferPointer { try prediction.readRows(count, into: $0) }
            try expected.withUnsafeMutableBufferPointer { try truth.readRows(count, into: $0) }
            do {
                try expected.withUnsafeBufferPointer { t in
                    try predicted.withUnsafeBufferPointer { p in
                        try matrix.add(truth: UnsafeBufferPointer(rebasing: t[0..<used]),
                                       prediction: UnsafeBufferPointer(rebasing: p[0..<used]))
                    }
                }
            } catch let error as ConfusionMatrixError {
                // The readers accept only legend ids, so this means the legend has gaps the
                // matrix does not; still name the pixel.
                let place = error.index.map { " at pixel (\($0 % width), \(row + $0 / width))" } ?? ""
                throw RasterError(path: predictionPath, reason: "\(error.reason)\(place) (truth \(truthPath))")
            }
            row += count
        }
        return matrix
    }

    /// Names of the visible regular files in `directory`, sorted.
    static func listFiles(_ directory: String) throws -> [String] {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            throw RasterError(path: directory, reason: "no such folder")
        }
        guard isDirectory.boolValue else { throw RasterError(path: directory, reason: "is not a folder") }
        let names: [String]
        do {
            names = try manager.contentsOfDirectory(atPath: directory)
        } catch {
            throw RasterError(path: directory, reason: "cannot list the folder: \(error.localizedDescription)")
        }
        return names.filter { name in
            // Hidden names include the temporary files of atomic writes in progress.
            guard !name.hasPrefix(".") else { return false }
            var isFolder: ObjCBool = false
            return manager.fileExists(atPath: join(directory, name), isDirectory: &isFolder) && !isFolder.boolValue
        }.sorted()
    }

    static func splitExtension(_ name: String) -> (stem: String, extension: String) {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return (name, "") }
        return (String(name[..<dot]), String(name[name.index(after: dot)...]))
    }

    static func extensionRank(_ name: String) -> Int {
        truthExtensions.firstIndex(of: splitExtension(name).extension.lowercased()) ?? truthExtensions.count
    }

    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    static func oneLine(_ error: any Error) -> String {
        String(describing: error).split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
