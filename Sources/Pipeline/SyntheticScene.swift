#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A deterministic synthetic 8-band scene in the style of WorldView-3 imagery (11-bit values):
/// buildings, roads and tracks, trees, crop fields and water drawn as vector shapes over a
/// varying soil and dry-grass background, with per-object spectral jitter, texture and noise.
///
/// Each class has its own spectral shape, but their ranges overlap in every single band, so a
/// model must combine bands (and context) to separate them. Rows are rendered on demand, so a
/// scene of any size is produced in bounded memory.
public struct SyntheticScene: Sendable {
    public static let bandCount = 8
    public static let maximumValue: Float = 2047

    /// Class ids of the default legend.
    public enum ClassID: UInt8, Sendable, CaseIterable {
        case background = 0, buildings, roads, trees, crops, water
    }

    /// Mean spectra (coastal, blue, green, yellow, red, red edge, NIR1, NIR2) per class.
    static let spectra: [ClassID: [Double]] = [
        .buildings: [880, 930, 980, 1000, 1010, 1030, 1050, 1040],
        .roads: [600, 630, 680, 720, 760, 790, 820, 810],
        .trees: [240, 270, 390, 350, 270, 720, 1380, 1430],
        .crops: [330, 370, 560, 520, 400, 930, 1520, 1540],
        .water: [520, 500, 430, 300, 190, 120, 80, 70],
    ]
    static let soil: [Double] = [520, 560, 630, 690, 750, 810, 900, 930]
    static let dryGrass: [Double] = [400, 440, 560, 570, 540, 800, 1060, 1080]

    public let width: Int
    public let height: Int
    public let seed: UInt64
    let shapes: [PaintedShape]
    /// For each band of `bucketSize` rows, the shapes that reach into it, last painted first, so
    /// a pixel is tested only against shapes near it whatever the scene's size.
    let rowBuckets: [[Int]]
    static let bucketSize = 64

    public init(width: Int, height: Int, seed: UInt64) {
        self.width = width
        self.height = height
        self.seed = seed
        var generator = SplitMix64(seed: seed)
        // Long roads and rivers become one shape per segment: same look, tighter bounds.
        shapes = SceneLayout.make(width: width, height: height, generator: &generator).flatMap { $0.segments }
        var buckets = [[Int]](repeating: [], count: (height + Self.bucketSize - 1) / Self.bucketSize)
        for index in shapes.indices.reversed() {
            let bounds = shapes[index].bounds
            let first = max(Int((bounds.minY - 0.5).rounded(.down)) / Self.bucketSize, 0)
            let last = min(Int((bounds.maxY + 0.5).rounded(.up)) / Self.bucketSize, buckets.count - 1)
            if first <= last { for b in first...last { buckets[b].append(index) } }
        }
        rowBuckets = buckets
    }

    /// Renders rows `y ..< y + count`: band-major 11-bit samples and the class id of every pixel.
    public func renderRows(from y: Int, count: Int) -> (bands: [UInt16], classes: [UInt8]) {
        var bands = [UInt16](repeating: 0, count: Self.bandCount * count * width)
        var classes = [UInt8](repeating: 0, count: count * width)
        let plane = count * width
        var spectrum = [Double](repeating: 0, count: Self.bandCount)
        let columnBucket = Self.bucketSize
        var columns = [[Int]](repeating: [], count: (width + columnBucket - 1) / columnBucket)
        for row in 0..<count {
            let py = Double(y + row) + 0.5
            let bucket = rowBuckets.isEmpty ? [] : rowBuckets[min((y + row) / Self.bucketSize, rowBuckets.count - 1)]
            for c in columns.indices { columns[c].removeAll(keepingCapacity: true) }
            for index in bucket where shapes[index].bounds.minY <= py && py <= shapes[index].bounds.maxY {
                let bounds = shapes[index].bounds
                let first = max(Int(bounds.minX.rounded(.down)) / columnBucket, 0)
                let last = min(Int(bounds.maxX.rounded(.up)) / columnBucket, columns.count - 1)
                if first <= last { for c in first...last { columns[c].append(index) } }
            }
            for x in 0..<width {
                let px = Double(x) + 0.5
                var hit: PaintedShape?
                for index in columns[x / columnBucket] {
                    let shape = shapes[index]
                    if px >= shape.bounds.minX && px <= shape.bounds.maxX && shape.geometry.contains(px, py) {
                        hit = shape
                        break
                    }
                }
                let texture = ValueNoise.fractal(x: px, y: py, seed: seed)
                let fine = ValueNoise.sample(x: px / 3, y: py / 3, seed: seed &+ 17)
                let classID: ClassID
                if let shape = hit {
                    classID = shape.classID
                    let base = Self.spectra[classID] ?? Self.soil
                    var modulation = shape.brightness * (1 + 0.06 * texture)
                    if let stripes = shape.stripes {
                        let phase = (px * stripes.cosine + py * stripes.sine) / stripes.period
                        modulation *= 1 + 0.12 * sin(2 * Double.pi * phase)
                    }
                    if classID == .trees { modulation *= 1 + 0.18 * fine }
                    if classID == .water { modulation = shape.brightness * (1 + 0.02 * texture) }
                    for b in 0..<Self.bandCount { spectrum[b] = base[b] * modulation * shape.tint[b] }
                } else {
                    classID = .background
                    let mix = 0.5 + 0.5 * ValueNoise.sample(x: px / 90, y: py / 90, seed: seed &+ 5)
                    for b in 0..<Self.bandCount {
                        spectrum[b] = (Self.soil[b] * (1 - mix) + Self.dryGrass[b] * mix) * (1 + 0.08 * texture)
                    }
                }
                let offset = row * width + x
                classes[offset] = classID.rawValue
                for b in 0..<Self.bandCount {
                    let noise = PixelNoise.gaussian(x: x, y: y + row, band: b, seed: seed)
                    let value = spectrum[b] + noise * (10 + 0.02 * spectrum[b])
                    bands[b * plane + offset] = UInt16(min(max(value.rounded(), 0), Double(Self.maximumValue)))
                }
            }
        }
        return (bands, classes)
    }
}

/// A shape painted with one class, with its per-object appearance.
struct PaintedShape: Sendable {
    var classID: SyntheticScene.ClassID
    var geometry: ShapeGeometry
    var bounds: (minX: Double, minY: Double, maxX: Double, maxY: Double)
    var brightness: Double
    var tint: [Double]
    var stripes: (period: Double, cosine: Double, sine: Double)?

    init(_ classID: SyntheticScene.ClassID, _ geometry: ShapeGeometry, generator: inout SplitMix64,
         brightness: ClosedRange<Double> = 0.88...1.12, stripes: (period: Double, angle: Double)? = nil) {
        self.classID = classID
        self.geometry = geometry
        self.bounds = geometry.bounds
        self.brightness = generator.uniform(brightness.lowerBound, brightness.upperBound)
        self.tint = (0..<SyntheticScene.bandCount).map { _ in 1 + 0.04 * generator.gaussian() }
        self.stripes = stripes.map { ($0.period, cos($0.angle), sin($0.angle)) }
    }

    /// A polyline as one shape per segment with this shape's appearance; other shapes unchanged.
    var segments: [PaintedShape] {
        guard case let .polyline(points, halfWidth) = geometry, points.count > 2 else { return [self] }
        return (1..<points.count).map { i in
            var part = self
            part.geometry = .polyline(points: [points[i - 1], points[i]], halfWidth: halfWidth)
            part.bounds = part.geometry.bounds
            return part
        }
    }
}

/// Geometric primitives, tested per pixel centre.
enum ShapeGeometry: Sendable {
    /// A rectangle centred at (cx, cy), rotated by `angle`.
    case rectangle(cx: Double, cy: Double, halfWidth: Double, halfHeight: Double, angle: Double)
    case disk(cx: Double, cy: Double, radius: Double)
    /// A thick polyline: every point within `halfWidth` of a segment.
    case polyline(points: [(x: Double, y: Double)], halfWidth: Double)

    func contains(_ x: Double, _ y: Double) -> Bool {
        switch self {
        case let .rectangle(cx, cy, hw, hh, angle):
            let dx = x - cx, dy = y - cy
            let u = dx * cos(angle) + dy * sin(angle)
            let v = -dx * sin(angle) + dy * cos(angle)
            return abs(u) <= hw && abs(v) <= hh
        case let .disk(cx, cy, r):
            return (x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r
        case let .polyline(points, halfWidth):
            let limit = halfWidth * halfWidth
            for i in 1..<points.count {
                let a = points[i - 1], b = points[i]
                let ex = b.x - a.x, ey = b.y - a.y
                let length2 = ex * ex + ey * ey
                var t = length2 > 0 ? ((x - a.x) * ex + (y - a.y) * ey) / length2 : 0
                t = min(max(t, 0), 1)
                let qx = a.x + t * ex - x, qy = a.y + t * ey - y
                if qx * qx + qy * qy <= limit { return true }
            }
            return false
        }
    }

    var bounds: (minX: Double, minY: Double, maxX: Double, maxY: Double) {
        switch self {
        case let .rectangle(cx, cy, hw, hh, _):
            let r = (hw * hw + hh * hh).squareRoot()
            return (cx - r, cy - r, cx + r, cy + r)
        case let .disk(cx, cy, r):
            return (cx - r, cy - r, cx + r, cy + r)
        case let .polyline(points, halfWidth):
            let xs = points.map(\.x), ys = points.map(\.y)
            return ((xs.min() ?? 0) - halfWidth, (ys.min() ?? 0) - halfWidth,
                    (xs.max() ?? 0) + halfWidth, (ys.max() ?? 0) + halfWidth)
        }
    }
}

/// Places a scene's objects; counts scale with the scene's area.
enum SceneLayout {
    static func make(width: Int, height: Int, generator g: inout SplitMix64) -> [PaintedShape] {
        let w = Double(width), h = Double(height)
        let areaScale = max(w * h / (400 * 400), 0.05)
        func count(_ range: ClosedRange<Int>) -> Int {
            max(1, Int((Double(g.integer(range)) * areaScale).rounded()))
        }
        // Roads and rivers cross the whole scene, so their number grows with its side.
        func countAcross(_ range: ClosedRange<Int>) -> Int {
            max(1, Int((Double(g.integer(range)) * areaScale.squareRoot()).rounded()))
        }
        var shapes: [PaintedShape] = []

        for _ in 0..<count(3...6) {
            let angle = g.uniform(0, Double.pi)
            let field = ShapeGeometry.rectangle(
                cx: g.uniform(0, w), cy: g.uniform(0, h), halfWidth: g.uniform(30, 80),
                halfHeight: g.uniform(25, 70), angle: angle)
            shapes.append(PaintedShape(.crops, field, generator: &g,
                                       stripes: (g.uniform(5, 9), angle + (g.unit() < 0.5 ? 0 : Double.pi / 2))))
        }

        for _ in 0..<count(0...1) {
            let cx = g.uniform(0, w), cy = g.uniform(0, h)
            for _ in 0..<g.integer(3...5) {
                let lobe = ShapeGeometry.disk(cx: cx + g.uniform(-25, 25), cy: cy + g.uniform(-25, 25),
                                              radius: g.uniform(14, 32))
                shapes.append(PaintedShape(.water, lobe, generator: &g, brightness: 0.95...1.05))
            }
        }
        for _ in 0..<countAcross(0...1) {
            shapes.append(PaintedShape(.water, meander(w: w, h: h, halfWidth: g.uniform(5, 9), generator: &g),
                                       generator: &g, brightness: 0.95...1.05))
        }

        for _ in 0..<count(4...8) {
            let cx = g.uniform(0, w), cy = g.uniform(0, h)
            let spread = g.uniform(15, 40)
            for _ in 0..<g.integer(6...24) {
                let crown = ShapeGeometry.disk(cx: cx + g.uniform(-spread, spread), cy: cy + g.uniform(-spread, spread),
                                               radius: g.uniform(3, 10))
                shapes.append(PaintedShape(.trees, crown, generator: &g))
            }
        }

        var roads: [[(x: Double, y: Double)]] = []
        for _ in 0..<countAcross(2...4) {
            let road = g.unit() < 0.7
                ? straightRoad(w: w, h: h, generator: &g)
                : curvedTrack(w: w, h: h, generator: &g)
            roads.append(road)
            shapes.append(PaintedShape(.roads, .polyline(points: road, halfWidth: g.uniform(2, 3.5)),
                                       generator: &g))
        }

        for _ in 0..<count(15...35) {
            // Buildings line the roads; a road's segments reach past the scene, so retry until
            // the spot along the road is inside it.
            for _ in 0..<20 {
                guard !roads.isEmpty else { break }
                let road = roads[g.integer(0...(roads.count - 1))]
                guard road.count >= 2 else { break }
                let i = g.integer(1...(road.count - 1))
                let a = road[i - 1], b = road[i]
                let t = g.unit()
                let angle = atan2(b.y - a.y, b.x - a.x)
                let side: Double = g.unit() < 0.5 ? -1 : 1
                let offset = g.uniform(11, 24) * side
                let cx = a.x + t * (b.x - a.x) - sin(angle) * offset
                let cy = a.y + t * (b.y - a.y) + cos(angle) * offset
                guard cx > -10 && cx < w + 10 && cy > -10 && cy < h + 10 else { continue }
                let roof = ShapeGeometry.rectangle(cx: cx, cy: cy, halfWidth: g.uniform(3.5, 11),
                                                   halfHeight: g.uniform(3.5, 8), angle: angle)
                shapes.append(PaintedShape(.buildings, roof, generator: &g, brightness: 0.8...1.2))
                break
            }
        }
        return shapes
    }

    static func straightRoad(w: Double, h: Double, generator g: inout SplitMix64) -> [(x: Double, y: Double)] {
        let angle = g.uniform(0, Double.pi)
        let cx = g.uniform(0.2 * w, 0.8 * w), cy = g.uniform(0.2 * h, 0.8 * h)
        let reach = (w * w + h * h).squareRoot()
        return (0...8).map { k in
            let s = (Double(k) / 8 - 0.5) * 2 * reach
            return (cx + s * cos(angle), cy + s * sin(angle))
        }
    }

    static func curvedTrack(w: Double, h: Double, generator g: inout SplitMix64) -> [(x: Double, y: Double)] {
        let p0 = (x: g.uniform(-0.1, 0.3) * w, y: g.uniform(0, 1) * h)
        let p1 = (x: g.uniform(0.2, 0.8) * w, y: g.uniform(-0.3, 1.3) * h)
        let p2 = (x: g.uniform(0.7, 1.1) * w, y: g.uniform(0, 1) * h)
        return (0...24).map { k in
            let t = Double(k) / 24
            let a = (1 - t) * (1 - t), b = 2 * (1 - t) * t, c = t * t
            return (a * p0.x + b * p1.x + c * p2.x, a * p0.y + b * p1.y + c * p2.y)
        }
    }

    static func meander(w: Double, h: Double, halfWidth: Double, generator g: inout SplitMix64) -> ShapeGeometry {
        let vertical = g.unit() < 0.5
        let phase = g.uniform(0, 2 * Double.pi)
        let amplitude = g.uniform(0.05, 0.15) * (vertical ? w : h)
        let wavelength = g.uniform(0.4, 0.9) * (vertical ? h : w)
        let base = g.uniform(0.25, 0.75) * (vertical ? w : h)
        let length = vertical ? h : w
        let points = (0...40).map { k -> (x: Double, y: Double) in
            let s = Double(k) / 40 * (length + 40) - 20
            let across = base + amplitude * sin(2 * Double.pi * s / wavelength + phase)
            return vertical ? (across, s) : (s, across)
        }
        return .polyline(points: points, halfWidth: halfWidth)
    }
}

/// Smooth lattice noise in [-1, 1], a pure function of position and seed.
enum ValueNoise {
    static func lattice(_ ix: Int, _ iy: Int, _ seed: UInt64) -> Double {
        var h = SplitMix64(seed: seed ^ (UInt64(bitPattern: Int64(ix)) &* 0x9E37_79B9_7F4A_7C15)
                                ^ (UInt64(bitPattern: Int64(iy)) &* 0xC2B2_AE3D_27D4_EB4F))
        return h.unit() * 2 - 1
    }

    static func sample(x: Double, y: Double, seed: UInt64) -> Double {
        let fx = x.rounded(.down), fy = y.rounded(.down)
        let ix = Int(fx), iy = Int(fy)
        let tx = x - fx, ty = y - fy
        let sx = tx * tx * (3 - 2 * tx), sy = ty * ty * (3 - 2 * ty)
        let a = lattice(ix, iy, seed), b = lattice(ix + 1, iy, seed)
        let c = lattice(ix, iy + 1, seed), d = lattice(ix + 1, iy + 1, seed)
        return (a + (b - a) * sx) * (1 - sy) + (c + (d - c) * sx) * sy
    }

    static func fractal(x: Double, y: Double, seed: UInt64) -> Double {
        0.6 * sample(x: x / 40, y: y / 40, seed: seed &+ 1) + 0.4 * sample(x: x / 12, y: y / 12, seed: seed &+ 2)
    }
}

/// Per-sample sensor noise: approximately standard normal, a pure function of pixel, band and seed,
/// so any row band renders the same values.
enum PixelNoise {
    static func gaussian(x: Int, y: Int, band: Int, seed: UInt64) -> Double {
        var h = SplitMix64(seed: seed &+ UInt64(truncatingIfNeeded: (y &* 131_071 &+ x) &* 8 &+ band) &* 0xD6E8_FEB8_6659_FD93)
        // Irwin–Hall with four uniforms, rescaled to unit variance.
        let sum = h.unit() + h.unit() + h.unit() + h.unit()
        return (sum - 2) * 1.7320508075688772
    }
}
