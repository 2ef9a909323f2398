/// One output class as a model file describes it: a name and the RGB colour of its pixels in
/// class maps. (Pipeline maps these to Raster's class legend; UNet knows no image formats.)
public struct ModelClass: Sendable, Equatable, Codable {
    public var name: String
    public var red: UInt8
    public var green: UInt8
    public var blue: UInt8

    public init(name: String, red: UInt8, green: UInt8, blue: UInt8) {
        self.name = name
        self.red = red
        self.green = green
        self.blue = blue
    }

    enum CodingKeys: String, CodingKey { case name, color }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        // Read as any integers, so that 300 is named as out of range, not as invalid JSON.
        let color = try container.decode([Int].self, forKey: .color)
        guard color.count == 3 else {
            throw DecodingError.dataCorruptedError(
                forKey: .color, in: container,
                debugDescription: "class \(name) colour must be [r, g, b], has \(color.count) entries")
        }
        guard color.allSatisfy({ (0...255).contains($0) }) else {
            throw DecodingError.dataCorruptedError(
                forKey: .color, in: container, debugDescription: "class \(name) colour \(color) must be 3 values from 0 to 255")
        }
        (red, green, blue) = (UInt8(color[0]), UInt8(color[1]), UInt8(color[2]))
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode([red, green, blue], forKey: .color)
    }
}

/// How input bands were normalised before training, so prediction can do the same: `mode` names
/// the method (e.g. `zscore`, interpreted by Pipeline), `mean` and `std` hold one entry per band.
public struct ModelNormalization: Sendable, Equatable, Codable {
    public var mode: String
    public var mean: [Double]
    public var std: [Double]

    public init(mode: String, mean: [Double], std: [Double]) {
        self.mode = mode
        self.mean = mean
        self.std = std
    }
}

/// What resuming training needs besides the weights: Adam's step count and moments (keyed by
/// the trainable tensors' names) and the dropout generator's state.
public struct TrainingState: Sendable, Equatable {
    public var adamStep: Int
    public var adamM: [String: HostTensor]
    public var adamV: [String: HostTensor]
    public var dropoutGeneratorState: UInt64
    /// The state of the training loop that wrote the checkpoint (its position, best score, ...),
    /// as JSON text it alone interprets; stored as the `training` object's `trainer` string.
    public var trainer: String?

    public init(adamStep: Int, adamM: [String: HostTensor], adamV: [String: HostTensor], dropoutGeneratorState: UInt64,
                trainer: String? = nil) {
        self.adamStep = adamStep
        self.adamM = adamM
        self.adamV = adamV
        self.dropoutGeneratorState = dropoutGeneratorState
        self.trainer = trainer
    }
}

/// The JSON document stored as the string value of `__metadata__.segpipe`.
struct ModelFileDocument: Codable {
    static let format = "segpipe-unet"
    static let version = 1

    /// Read first, so a foreign or newer file is named as such before its config is parsed.
    struct Identity: Decodable {
        var format: String?
        var version: Int?
    }

    /// The `training` object; the generator state is a decimal string because JSON readers
    /// commonly keep numbers as doubles, which would round a 64-bit state.
    struct Training: Codable {
        var adamStep: Int
        var dropoutGeneratorState: UInt64
        var trainer: String?

        enum CodingKeys: String, CodingKey {
            case adamStep = "adam_step", dropoutGeneratorState = "dropout_generator_state", trainer
        }

        init(adamStep: Int, dropoutGeneratorState: UInt64, trainer: String?) {
            self.adamStep = adamStep
            self.dropoutGeneratorState = dropoutGeneratorState
            self.trainer = trainer
        }

        init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            adamStep = try container.decode(Int.self, forKey: .adamStep)
            if let text = try? container.decode(String.self, forKey: .dropoutGeneratorState) {
                guard let value = UInt64(text) else {
                    throw DecodingError.dataCorruptedError(
                        forKey: .dropoutGeneratorState, in: container,
                        debugDescription: "dropout_generator_state \"\(text)\" is not an unsigned 64-bit integer")
                }
                dropoutGeneratorState = value
            } else {
                dropoutGeneratorState = try container.decodeIfPresent(UInt64.self, forKey: .dropoutGeneratorState) ?? 0
            }
            trainer = try container.decodeIfPresent(String.self, forKey: .trainer)
        }

        func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(adamStep, forKey: .adamStep)
            try container.encode(String(dropoutGeneratorState), forKey: .dropoutGeneratorState)
            try container.encodeIfPresent(trainer, forKey: .trainer)
        }
    }

    var format: String
    var version: Int
    var config: UNetConfig
    var classes: [ModelClass]?
    /// The name and colour class maps give pixels of no class; absent, predict uses white.
    var background: ModelClass?
    var normalization: ModelNormalization?
    var training: Training?
}
