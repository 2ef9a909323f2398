/// How the decoder doubles resolution: a learned 2×2 stride-2 transposed convolution, or
/// nearest-neighbour repetition with no weights.
public enum Upsampling: String, Sendable, Codable, CaseIterable {
    case transpose, nearest
}

/// Every parameter of the U-Net in UNET.md. Coding keys are the model file's `config` keys.
public struct UNetConfig: Sendable, Equatable, Codable {
    public var nClasses: Int
    public var nChannels: Int
    public var tileSize: Int
    public var nFiltersStart: Int
    public var growthFactor: Int
    public var depth: Int
    public var upsampling: Upsampling
    public var dropout: Double
    public var classWeights: [Double]

    enum CodingKeys: String, CodingKey {
        case nClasses = "n_classes", nChannels = "n_channels", tileSize = "tile_size"
        case nFiltersStart = "n_filters_start", growthFactor = "growth_factor", depth
        case upsampling, dropout, classWeights = "class_weights"
    }

    public init(
        nClasses: Int = 5, nChannels: Int = 8, tileSize: Int = 160, nFiltersStart: Int = 32,
        growthFactor: Int = 2, depth: Int = 5, upsampling: Upsampling = .transpose,
        dropout: Double = 0.25, classWeights: [Double]? = nil
    ) {
        self.nClasses = nClasses
        self.nChannels = nChannels
        self.tileSize = tileSize
        self.nFiltersStart = nFiltersStart
        self.growthFactor = growthFactor
        self.depth = depth
        self.upsampling = upsampling
        self.dropout = dropout
        self.classWeights = classWeights
            ?? (nClasses == 5 ? [0.2, 0.3, 0.1, 0.1, 0.3]
                : [Double](repeating: 1.0 / Double(max(nClasses, 1)), count: nClasses))
    }

    /// The reference network: 8 bands in, 5 classes out, 160×160 tiles, depth 5, 32 filters.
    public static let reference = UNetConfig()

    /// Why this network will run slowly, or nil. oneDNN's fast convolutions work on blocks of 8
    /// channels; with a filter count that is not a multiple of 8 every convolution falls back to
    /// its reference code, measured 40–100 times slower.
    public var speedWarning: String? {
        guard nFiltersStart % 8 != 0 else { return nil }
        return "\(nFiltersStart) filters is not a multiple of 8, so oneDNN runs reference convolutions, 40–100× slower; 8 or 16 filters are faster"
    }

    /// Every reason this configuration cannot be built, empty when it can.
    /// The largest tile side a model may have.
    public static let maximumTileSize = 2048

    public var problems: [String] {
        var found: [String] = []
        if nClasses < 1 || nClasses > 254 {
            // Class maps are 8-bit with 0 for background and 255 for "no label".
            found.append("n_classes must be between 1 and 254 (got \(nClasses))")
        }
        if nChannels < 1 { found.append("n_channels must be at least 1 (got \(nChannels))") }
        if depth < 1 || depth > 8 { found.append("depth must be between 1 and 8 (got \(depth))") }
        if nFiltersStart < 1 { found.append("n_filters_start must be at least 1 (got \(nFiltersStart))") }
        if growthFactor < 1 { found.append("growth_factor must be at least 1 (got \(growthFactor))") }
        if depth >= 1 && depth <= 8 && (tileSize < 1 || tileSize % (1 << depth) != 0) {
            found.append("tile_size \(tileSize) must be a positive multiple of 2^depth = \(1 << depth)")
        }
        // A batch of 8 tiles of 2048² at 32 filters already needs 4 GiB per activation.
        if tileSize > Self.maximumTileSize { found.append("tile_size must be at most \(Self.maximumTileSize) (got \(tileSize))") }
        if !(0.0..<1.0).contains(dropout) { found.append("dropout must be in [0, 1) (got \(dropout))") }
        if classWeights.count != nClasses {
            found.append("class_weights has \(classWeights.count) entries for \(nClasses) classes")
        }
        if depth >= 1, depth <= 8, nFiltersStart >= 1, growthFactor >= 1 {
            let widest = Double(nFiltersStart) * pow(Double(growthFactor), Double(depth))
            if widest > 65536 {
                let count = widest < 1e15 ? "\(Int(widest))" : "\(widest)"
                found.append("the bottleneck would have \(count) filters (at most 65536)")
            }
        }
        return found
    }

    /// Filters of encoder level k, 1 ≤ k ≤ depth + 1.
    public func encoderFilters(_ level: Int) -> Int { nFiltersStart * intPow(growthFactor, level - 1) }

    /// Filters of decoder level j, 1 ≤ j ≤ depth.
    public func decoderFilters(_ level: Int) -> Int { nFiltersStart * intPow(growthFactor, depth - level) }

    /// Channels entering decoder level j's upsampling.
    public func decoderInputChannels(_ level: Int) -> Int {
        level == 1 ? encoderFilters(depth + 1) : decoderFilters(level - 1)
    }

    /// Channels after decoder level j's upsampling.
    public func upsampledChannels(_ level: Int) -> Int {
        upsampling == .transpose ? decoderFilters(level) : decoderInputChannels(level)
    }

    /// Channels after decoder level j's concatenation with its skip connection.
    public func concatChannels(_ level: Int) -> Int {
        upsampledChannels(level) + encoderFilters(depth + 1 - level)
    }

    /// Every trainable or stored tensor, in the model file's names and Keras layouts, in network order.
    public var parameterShapes: [(name: String, shape: [Int])] {
        var list: [(String, [Int])] = []
        func conv(_ prefix: String, _ cin: Int, _ cout: Int) {
            list.append(("\(prefix).conv1.kernel", [3, 3, cin, cout]))
            list.append(("\(prefix).conv1.bias", [cout]))
            list.append(("\(prefix).conv2.kernel", [3, 3, cout, cout]))
            list.append(("\(prefix).conv2.bias", [cout]))
        }
        func bn(_ prefix: String, _ channels: Int) {
            for part in ["gamma", "beta", "moving_mean", "moving_variance"] {
                list.append(("\(prefix).bn.\(part)", [channels]))
            }
        }
        for k in 1...(depth + 1) {
            let input = k == 1 ? nChannels : encoderFilters(k - 1)
            if k >= 2 && k <= depth { bn("enc\(k)", input) }
            conv("enc\(k)", input, encoderFilters(k))
        }
        for j in 1...depth {
            if upsampling == .transpose {
                list.append(("dec\(j).up.kernel", [2, 2, decoderFilters(j), decoderInputChannels(j)]))
                list.append(("dec\(j).up.bias", [decoderFilters(j)]))
            }
            if j <= depth - 1 { bn("dec\(j)", concatChannels(j)) }
            conv("dec\(j)", concatChannels(j), decoderFilters(j))
        }
        list.append(("head.kernel", [1, 1, nFiltersStart, nClasses]))
        list.append(("head.bias", [nClasses]))
        return list
    }

    /// Trainable parameters (batch-normalisation moving statistics excluded), as Keras counts them.
    public var trainableParameterCount: Int {
        parameterShapes.filter { !$0.name.hasSuffix("moving_mean") && !$0.name.hasSuffix("moving_variance") }
            .reduce(0) { $0 + $1.shape.reduce(1, *) }
    }

    /// All stored parameters, moving statistics included.
    public var parameterCount: Int { parameterShapes.reduce(0) { $0 + $1.shape.reduce(1, *) } }

    /// Floating-point operations of one forward pass over one tile, counting a multiply-add as two
    /// and only convolutions (transposed ones included), as UNET.md does.
    public var forwardFLOPsPerTile: Double {
        var macs = 0.0
        for k in 1...(depth + 1) {
            let side = Double(tileSize >> (k - 1))
            let input = k == 1 ? nChannels : encoderFilters(k - 1)
            let f = encoderFilters(k)
            macs += side * side * 9 * Double(input * f + f * f)
        }
        for j in 1...depth {
            let side = Double(tileSize >> (depth - j))
            if upsampling == .transpose {
                macs += side * side * Double(decoderInputChannels(j) * decoderFilters(j))
            }
            macs += side * side * 9 * Double(concatChannels(j) * decoderFilters(j) + decoderFilters(j) * decoderFilters(j))
        }
        macs += Double(tileSize * tileSize * nFiltersStart * nClasses)
        return 2 * macs
    }
}

private func intPow(_ base: Int, _ exponent: Int) -> Int {
    var result = 1
    for _ in 0..<max(exponent, 0) { result *= base }
    return result
}

private func pow(_ x: Double, _ y: Double) -> Double {
    var result = 1.0
    for _ in 0..<Int(y) { result *= x }
    return result
}
