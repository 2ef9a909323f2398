/// Turns per-class probabilities into one class id per pixel.
public struct ClassPainter: Sendable, Equatable {
    public enum Mode: String, Sendable, CaseIterable {
        /// The most probable class if its probability reaches the threshold, else background.
        case argmax
        /// The reference's: every class at or above the threshold is painted in a fixed order and
        /// the last painted wins.
        case ordered
    }

    public var mode: Mode
    public var threshold: Float
    /// Class ids (1-based) in painting order, for `ordered`.
    public var order: [Int]

    /// The reference's order for the default legend (crops, water, buildings, roads, trees);
    /// ascending ids for any other class count.
    public static func referenceOrder(classes: Int) -> [Int] {
        classes == 5 ? [4, 5, 1, 2, 3] : Array(1...max(classes, 1))
    }

    public init(mode: Mode = .argmax, threshold: Float = 0.5, classes: Int) {
        self.mode = mode
        self.threshold = threshold
        self.order = Self.referenceOrder(classes: classes)
    }

    /// Class id of one pixel whose probabilities are `p[k * stride]`, k = 0..<classes.
    @inline(__always)
    public func classID(_ p: UnsafeBufferPointer<Float>, offset: Int, stride: Int, classes: Int) -> UInt8 {
        switch mode {
        case .argmax:
            var best = -1
            var bestValue = -Float.infinity
            for k in 0..<classes {
                let v = p[offset + k * stride]
                if v > bestValue {
                    bestValue = v
                    best = k
                }
            }
            return best >= 0 && bestValue >= threshold ? UInt8(best + 1) : 0
        case .ordered:
            var id: UInt8 = 0
            for classID in order where classID <= classes && p[offset + (classID - 1) * stride] >= threshold {
                id = UInt8(classID)
            }
            return id
        }
    }

    /// Class ids of a class-major buffer of `pixels` pixels (probability of class k at k·pixels + i).
    public func paint(classMajor values: [Float], pixels: Int, classes: Int) -> [UInt8] {
        var ids = [UInt8](repeating: 0, count: pixels)
        values.withUnsafeBufferPointer { p in
            for i in 0..<pixels { ids[i] = classID(p, offset: i, stride: pixels, classes: classes) }
        }
        return ids
    }

    /// Class ids of an NHWC buffer (probabilities of one pixel adjacent).
    public func paint(pixelMajor values: [Float], pixels: Int, classes: Int) -> [UInt8] {
        var ids = [UInt8](repeating: 0, count: pixels)
        values.withUnsafeBufferPointer { p in
            for i in 0..<pixels { ids[i] = classID(p, offset: i * classes, stride: 1, classes: classes) }
        }
        return ids
    }
}
