import Raster
import Tiling
import UNet

/// Reads labelled tiles for training and validation.
///
/// Training draws fresh random windows from each scene's training rows every batch, under one of
/// the eight dihedral transforms, optionally seeking windows that hold rare classes. Each batch
/// is a pure function of the seed and its index, so batches built on any number of threads, in
/// any order, are the same. Validation tiles lie on a fixed grid over each scene's held-out rows.
public struct TileSampler: Sendable {
    /// A scene with the part of it used for training.
    public struct Source: Sendable {
        public var scene: TrainingScene
        /// The TIFF holding the scene's labels (see `MaskCache`).
        public var labelPath: String
        /// Rows 0..<trainingRows train; the rest validate.
        public var trainingRows: Int

        public init(scene: TrainingScene, labelPath: String, trainingRows: Int) {
            self.scene = scene
            self.labelPath = labelPath
            self.trainingRows = trainingRows
        }
    }

    public var sources: [Source]
    public var tileSize: Int
    public var classes: Int
    public var normalization: Normalization
    public var seed: UInt64
    /// Probability that a tile is chosen to contain a rare class.
    public var rareClassProbability: Double
    /// Fraction of training pixels per class 1...classes.
    public var classFrequencies: [Double]
    public var augment: Bool

    public init(sources: [Source], tileSize: Int, classes: Int, normalization: Normalization, seed: UInt64,
                rareClassProbability: Double = 0, classFrequencies: [Double] = [], augment: Bool = true) {
        self.sources = sources
        self.tileSize = tileSize
        self.classes = classes
        self.normalization = normalization
        self.seed = seed
        self.rareClassProbability = rareClassProbability
        self.classFrequencies = classFrequencies
        self.augment = augment
    }

    /// A window of the scene, in scene coordinates, to become one tile.
    struct Draw {
        var sourceIndex: Int
        var window: PixelWindow
        var transform: DihedralTransform
    }

    /// Training batch number `index` (counted over the whole run, from 0).
    public func trainingBatch(index: Int, size: Int, readers: ReaderCache) throws -> TrainingBatch {
        var generator = SplitMix64(seed: seed ^ (UInt64(index) &* 0xA24B_AED4_963E_E407))
        var assembly = BatchAssembly(size: size, tileSize: tileSize, channels: normalization.bands, classes: classes)
        let weights = sources.map { Double($0.scene.width * max($0.trainingRows, 1)) }
        let totalWeight = weights.reduce(0, +)
        for slot in 0..<size {
            let wantedClass = pickRareClass(&generator)
            var chosen: (Draw, Tile)?
            for attempt in 0..<(wantedClass == nil ? 1 : 16) {
                var pick = generator.unit() * totalWeight
                var sourceIndex = 0
                while sourceIndex < sources.count - 1 && pick >= weights[sourceIndex] {
                    pick -= weights[sourceIndex]
                    sourceIndex += 1
                }
                let source = sources[sourceIndex]
                let x = origin(length: source.scene.width, &generator)
                let y = origin(length: source.trainingRows, &generator)
                let transform = augment ? DihedralTransform(rawValue: generator.integer(0...7)) ?? .identity : .identity
                let draw = Draw(sourceIndex: sourceIndex, window: PixelWindow(x: x, y: y, width: tileSize, height: tileSize), transform: transform)
                let tile = try readTile(draw, regionHeight: source.trainingRows, readers: readers)
                if let wanted = wantedClass, attempt < 15, !tile.contains(classID: wanted) { continue }
                chosen = (draw, tile)
                break
            }
            if let (draw, tile) = chosen { assembly.place(tile, transform: draw.transform, slot: slot) }
        }
        return assembly.batch
    }

    /// Validation tiles: a fixed grid over every scene's held-out rows, in order.
    public var validationWindows: [(sourceIndex: Int, window: PixelWindow)] {
        var windows: [(Int, PixelWindow)] = []
        for (i, source) in sources.enumerated() {
            let heldOut = source.scene.height - source.trainingRows
            guard heldOut > 0 else { continue }
            for y in gridOrigins(length: heldOut) {
                for x in gridOrigins(length: source.scene.width) {
                    windows.append((i, PixelWindow(x: x, y: source.trainingRows + y, width: tileSize, height: tileSize)))
                }
            }
        }
        return windows
    }

    /// One validation batch of the given windows, without augmentation. Only the pixels each
    /// window scores (`scoredRange`) count: the rest, mirrored from the region or scored by a
    /// neighbouring window too, are marked ignored, so every held-out pixel counts once.
    public func validationBatch(_ windows: ArraySlice<(sourceIndex: Int, window: PixelWindow)>, readers: ReaderCache) throws -> TrainingBatch {
        var assembly = BatchAssembly(size: windows.count, tileSize: tileSize, channels: normalization.bands, classes: classes)
        for (slot, entry) in windows.enumerated() {
            let source = sources[entry.sourceIndex]
            let heldOut = PixelWindow(x: 0, y: source.trainingRows, width: source.scene.width,
                                      height: source.scene.height - source.trainingRows)
            let tile = try readTile(Draw(sourceIndex: entry.sourceIndex, window: entry.window, transform: .identity),
                                    region: heldOut, readers: readers)
            assembly.place(tile, transform: .identity, slot: slot)
            let columns = scoredRange(origin: entry.window.x, length: heldOut.width)
            let rows = scoredRange(origin: entry.window.y - heldOut.y, length: heldOut.height)
            assembly.ignore(slot: slot) { x, y in !columns.contains(entry.window.x + x) || !rows.contains(entry.window.y - heldOut.y + y) }
        }
        return assembly.batch
    }

    /// The region positions that the validation window at `origin` (one of
    /// `gridOrigins(length:)`) scores: those inside the region that no earlier window covers.
    func scoredRange(origin: Int, length: Int) -> Range<Int> {
        let origins = gridOrigins(length: length)
        let previousEnd = origins.last { $0 < origin }.map { $0 + tileSize } ?? 0
        let start = max(origin, previousEnd, 0), end = min(origin + tileSize, length)
        return start..<max(start, end)
    }

    /// Whether some pixel of the training rows has a label and a valid value in every band, so
    /// that the loss sees something. Masks and bands are each checked to hold data, but not
    /// together; this reads tiles until it finds such a pixel, so usual data costs one tile.
    public func trainingRowsHaveALossPixel(readers: ReaderCache) throws -> Bool {
        for (index, source) in sources.enumerated() where source.trainingRows > 0 {
            for y in gridOrigins(length: source.trainingRows) {
                for x in gridOrigins(length: source.scene.width) {
                    let draw = Draw(sourceIndex: index, window: PixelWindow(x: x, y: y, width: tileSize, height: tileSize),
                                    transform: .identity)
                    let tile = try readTile(draw, regionHeight: source.trainingRows, readers: readers)
                    if tile.labels.contains(where: { $0 != ClassLegend.ignoreValue }) { return true }
                }
            }
        }
        return false
    }

    func gridOrigins(length: Int) -> [Int] {
        if length <= tileSize { return [-(tileSize - length) / 2] }
        var origins = Array(stride(from: 0, to: length - tileSize, by: tileSize))
        origins.append(length - tileSize)
        return origins
    }

    func origin(length: Int, _ generator: inout SplitMix64) -> Int {
        length <= tileSize ? -(tileSize - length) / 2 : generator.integer(0...(length - tileSize))
    }

    /// A class id to look for, chosen with probability `rareClassProbability`, weighted towards
    /// the rarest classes present.
    func pickRareClass(_ generator: inout SplitMix64) -> UInt8? {
        guard rareClassProbability > 0, generator.unit() < rareClassProbability else { return nil }
        let inverse = classFrequencies.map { $0 > 0 ? 1 / $0 : 0 }
        let total = inverse.reduce(0, +)
        guard total > 0 else { return nil }
        var pick = generator.unit() * total
        for (k, w) in inverse.enumerated() {
            if pick < w { return UInt8(k + 1) }
            pick -= w
        }
        return nil
    }

    func readTile(_ draw: Draw, regionHeight: Int, readers: ReaderCache) throws -> Tile {
        let scene = sources[draw.sourceIndex].scene
        return try readTile(draw, region: PixelWindow(x: 0, y: 0, width: scene.width, height: regionHeight), readers: readers)
    }

    /// Reads image and labels of a window, mirroring at the edges of `region` where the window
    /// passes them, so held-out rows never leak into training tiles.
    func readTile(_ draw: Draw, region: PixelWindow, readers: ReaderCache) throws -> Tile {
        let source = sources[draw.sourceIndex]
        let local = PixelWindow(x: draw.window.x - region.x, y: draw.window.y - region.y,
                                width: draw.window.width, height: draw.window.height)
        let inRegion = ReflectPadding.sourceWindow(for: local, width: region.width, height: region.height)
        let fileWindow = PixelWindow(x: inRegion.x + region.x, y: inRegion.y + region.y,
                                     width: inRegion.width, height: inRegion.height)
        let imageReader = try readers.reader(source.scene.imagePath)
        var image = ReflectPadding.extract(local, from: try imageReader.readWindowMarkingNodata(fileWindow), at: inRegion,
                                           width: region.width, height: region.height)
        let labelBuffer = ReflectPadding.extract(local, from: try readers.reader(source.labelPath).readWindowMarkingNodata(fileWindow),
                                                 at: inRegion, width: region.width, height: region.height)
        let plane = image.planeSize
        var invalid = [Bool](repeating: false, count: plane)
        for band in 0..<image.bands {
            for i in 0..<plane where Normalization.isMissing(image.values[band * plane + i]) { invalid[i] = true }
        }
        normalization.apply(to: &image)
        var labels = [UInt8](repeating: 0, count: plane)
        var targets = [Float](repeating: 0, count: classes * plane)
        switch source.scene.maskKind {
        case .classMap:
            for i in 0..<plane {
                let value = labelBuffer.values[i]
                let id = value.isNaN ? ClassLegend.ignoreValue : UInt8(clamping: Int(value))
                labels[i] = invalid[i] ? ClassLegend.ignoreValue : id
                if id >= 1 && Int(id) <= classes { targets[(Int(id) - 1) * plane + i] = 1 }
            }
        case .multiLabel:
            for i in 0..<plane {
                if (0..<classes).contains(where: { labelBuffer.values[$0 * plane + i].isNaN }) {
                    labels[i] = ClassLegend.ignoreValue
                    continue
                }
                var first: UInt8 = 0
                for c in 0..<classes where labelBuffer.values[c * plane + i] > 0 {
                    targets[c * plane + i] = 1
                    if first == 0 { first = UInt8(c + 1) }
                }
                labels[i] = invalid[i] ? ClassLegend.ignoreValue : first
            }
        }
        return Tile(image: image, targets: targets, labels: labels)
    }
}

/// One tile's image (normalised, band-major), targets (class-major) and labels.
struct Tile {
    var image: RasterBuffer
    var targets: [Float]
    var labels: [UInt8]

    func contains(classID: UInt8) -> Bool { labels.contains(classID) }
}

/// Builds NHWC batch tensors from band-major tiles, applying each tile's transform.
struct BatchAssembly {
    let size: Int, tileSize: Int, channels: Int, classes: Int
    var inputs: [Float]
    var targets: [Float]
    var ignore: [Float]
    var labels: [UInt8]

    init(size: Int, tileSize: Int, channels: Int, classes: Int) {
        self.size = size
        self.tileSize = tileSize
        self.channels = channels
        self.classes = classes
        let pixels = size * tileSize * tileSize
        inputs = [Float](repeating: 0, count: pixels * channels)
        targets = [Float](repeating: 0, count: pixels * classes)
        ignore = [Float](repeating: 1, count: pixels)
        labels = [UInt8](repeating: ClassLegend.ignoreValue, count: pixels)
    }

    mutating func place(_ tile: Tile, transform: DihedralTransform, slot: Int) {
        let t = tileSize, plane = t * t
        let image = transform.apply(to: tile.image)
        let target = transform.apply(to: RasterBuffer(bands: classes, width: t, height: t, values: tile.targets))
        let label = transform.apply(toPlane: tile.labels, height: t, width: t)
        let base = slot * plane
        for p in 0..<plane {
            for c in 0..<channels { inputs[(base + p) * channels + c] = image.values[c * plane + p] }
            for k in 0..<classes { targets[(base + p) * classes + k] = target.values[k * plane + p] }
            labels[base + p] = label[p]
            ignore[base + p] = label[p] == ClassLegend.ignoreValue ? 1 : 0
        }
    }

    /// Marks the pixels (tile column, row) of one slot for which `excluded` holds as unlabelled.
    mutating func ignore(slot: Int, where excluded: (Int, Int) -> Bool) {
        let base = slot * tileSize * tileSize
        for y in 0..<tileSize {
            for x in 0..<tileSize where excluded(x, y) {
                ignore[base + y * tileSize + x] = 1
                labels[base + y * tileSize + x] = ClassLegend.ignoreValue
            }
        }
    }

    var batch: TrainingBatch {
        TrainingBatch(inputs: HostTensor(shape: [size, tileSize, tileSize, channels], values: inputs),
                      targets: HostTensor(shape: [size, tileSize, tileSize, classes], values: targets),
                      ignore: HostTensor(shape: [size, tileSize, tileSize], values: ignore),
                      labels: labels)
    }
}
