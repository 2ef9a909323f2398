import Foundation

/// A complete segpipe model as stored on disk (UNET.md, "Model file"): the configuration, every
/// parameter in Keras's layouts, the optional class legend and input normalisation, and optionally
/// the training state (Adam moments as `adam.m.<name>`/`adam.v.<name>`, step count and dropout
/// generator state in the metadata's `training` object).
public struct ModelFile: Sendable {
    public static let adamMomentPrefix = "adam.m."
    public static let adamVelocityPrefix = "adam.v."

    public var config: UNetConfig
    /// Every tensor of `config.parameterShapes`, by name.
    public var parameters: [String: HostTensor]
    public var classes: [ModelClass]?
    /// The legend's background (class id 0: no class), stored beside `classes` under
    /// `background`, a key Keras-side readers ignore.
    public var background: ModelClass?
    public var normalization: ModelNormalization?
    public var training: TrainingState?

    public init(
        config: UNetConfig, parameters: [String: HostTensor], classes: [ModelClass]? = nil, background: ModelClass? = nil,
        normalization: ModelNormalization? = nil, training: TrainingState? = nil
    ) {
        self.config = config
        self.parameters = parameters
        self.classes = classes
        self.background = background
        self.normalization = normalization
        self.training = training
    }

    /// Names and shapes of the tensors Adam updates: every parameter but the moving statistics.
    public static func trainableShapes(_ config: UNetConfig) -> [(name: String, shape: [Int])] {
        config.parameterShapes.filter { !$0.name.hasSuffix(".moving_mean") && !$0.name.hasSuffix(".moving_variance") }
    }

    /// Reads and checks a model file: the `segpipe` metadata, then every tensor the configuration
    /// needs, with its shape. Tensors it does not need are ignored. The training state is read
    /// when the metadata has a `training` object and `includeTraining` is set.
    public init(contentsOfFile path: String, includeTraining: Bool = true) throws {
        let reader = try SafeTensorsReader(path: path)
        func fail(_ reason: String) -> ModelFileError { ModelFileError(path: path, reason: reason) }

        guard let json = reader.metadata["segpipe"] else {
            throw fail("not a segpipe model: no \"segpipe\" entry in the safetensors __metadata__")
        }
        let bytes = Data(json.utf8)
        let identity: ModelFileDocument.Identity
        do {
            identity = try JSONDecoder().decode(ModelFileDocument.Identity.self, from: bytes)
        } catch {
            throw fail("the segpipe metadata cannot be read: \(Self.metadataProblem(error, json: bytes))")
        }
        guard identity.format == ModelFileDocument.format else {
            throw fail("not a segpipe model: metadata format is \(identity.format.map { "\"\($0)\"" } ?? "missing"), expected \"\(ModelFileDocument.format)\"")
        }
        guard let version = identity.version, version >= 1 else {
            throw fail("the segpipe metadata has no valid version")
        }
        guard version <= ModelFileDocument.version else {
            throw fail("model file version \(version) is newer than this segpipe reads (\(ModelFileDocument.version))")
        }
        let document: ModelFileDocument
        do {
            document = try JSONDecoder().decode(ModelFileDocument.self, from: bytes)
        } catch {
            throw fail("invalid segpipe metadata: \(Self.metadataProblem(error, json: bytes))")
        }
        let config = document.config
        if let problem = config.problems.first {
            throw fail("invalid config: \(problem)")
        }
        if let classes = document.classes, classes.count != config.nClasses {
            throw fail("metadata lists \(classes.count) classes but the config has n_classes \(config.nClasses)")
        }
        if let normalization = document.normalization,
           normalization.mean.count != config.nChannels || normalization.std.count != config.nChannels {
            throw fail("normalization has \(normalization.mean.count) means and \(normalization.std.count) standard deviations for \(config.nChannels) channels")
        }

        var parameters: [String: HostTensor] = [:]
        for (name, shape) in config.parameterShapes {
            parameters[name] = try Self.read(name, shape: shape, from: reader)
        }

        var training: TrainingState?
        if includeTraining, let state = document.training {
            // Past 2^53 steps Adam's bias correction cannot count on; no run takes that many.
            guard state.adamStep >= 0, state.adamStep < 1 << 53 else {
                throw fail("training.adam_step must be between 0 and 2^53 (got \(state.adamStep))")
            }
            var m: [String: HostTensor] = [:], v: [String: HostTensor] = [:]
            for (name, shape) in Self.trainableShapes(config) {
                m[name] = try Self.read(Self.adamMomentPrefix + name, shape: shape, from: reader)
                v[name] = try Self.read(Self.adamVelocityPrefix + name, shape: shape, from: reader)
            }
            training = TrainingState(adamStep: state.adamStep, adamM: m, adamV: v, dropoutGeneratorState: state.dropoutGeneratorState,
                                     trainer: state.trainer)
        }

        self.init(config: config, parameters: parameters, classes: document.classes, background: document.background,
                  normalization: document.normalization, training: training)
    }

    /// The configuration a model file stores, read from its header alone (for checks that must
    /// not load the weights).
    public static func configuration(ofFile path: String) throws -> UNetConfig {
        try header(ofFile: path).config
    }

    /// The configuration and the training loop's state (`TrainingState.trainer`) a checkpoint
    /// stores, read from its header alone.
    public static func checkpointHeader(ofFile path: String) throws -> (config: UNetConfig, trainer: String?) {
        let document = try header(ofFile: path)
        return (document.config, document.training?.trainer)
    }

    private static func header(ofFile path: String) throws -> ModelFileDocument {
        let reader = try SafeTensorsReader(path: path)
        guard let json = reader.metadata["segpipe"] else {
            throw ModelFileError(path: path, reason: "not a segpipe model: no \"segpipe\" entry in the safetensors __metadata__")
        }
        do {
            return try JSONDecoder().decode(ModelFileDocument.self, from: Data(json.utf8))
        } catch {
            throw ModelFileError(path: path, reason: "invalid segpipe metadata: \(ModelFileError.explain(error))")
        }
    }

    /// Writes the model atomically (temporary name in the same folder, then rename). Tensors go in
    /// `config.parameterShapes` order, then the Adam moments in the same order.
    public func write(toFile path: String) throws {
        func stored(_ values: [String: HostTensor], prefix: String = "") -> TensorSource {
            { name, shape in
                guard let tensor = values[name] else { throw ModelFileError(path: path, reason: "cannot save: tensor \(prefix + name) is missing") }
                guard tensor.shape == shape else {
                    throw ModelFileError(path: path, reason: "cannot save: tensor \(prefix + name) has shape \(tensor.shape), expected \(shape)")
                }
                return tensor.values
            }
        }
        try Self.write(config: config, classes: classes, background: background, normalization: normalization, parameters: stored(parameters),
                       training: training.map {
                           (.init(adamStep: $0.adamStep, dropoutGeneratorState: $0.dropoutGeneratorState, trainer: $0.trainer),
                            stored($0.adamM, prefix: Self.adamMomentPrefix), stored($0.adamV, prefix: Self.adamVelocityPrefix))
                       }, toFile: path)
    }

    /// The values of a tensor given its name (without the Adam prefixes) and Keras shape.
    typealias TensorSource = (String, [Int]) throws -> [Float]

    /// Writes a model file whose tensors are fetched from `parameters` (and with `training` the
    /// Adam moments of the trainable ones) as the writer reaches them, one at a time.
    static func write(config: UNetConfig, classes: [ModelClass]?, background: ModelClass?, normalization: ModelNormalization?,
                      parameters: @escaping TensorSource,
                      training: (state: ModelFileDocument.Training, firstMoments: TensorSource, secondMoments: TensorSource)?,
                      toFile path: String) throws {
        func fail(_ reason: String) -> ModelFileError { ModelFileError(path: path, reason: reason) }
        if let problem = config.problems.first { throw fail("invalid config: \(problem)") }
        func deferred(_ shapes: [(name: String, shape: [Int])], prefix: String = "",
                      _ source: @escaping TensorSource) -> [SafeTensorsWriter.DeferredTensor] {
            shapes.map { name, shape in .init(name: prefix + name, shape: shape) { try source(name, shape) } }
        }
        var tensors = deferred(config.parameterShapes, parameters)
        if let training {
            let trainable = Self.trainableShapes(config)
            tensors += deferred(trainable, prefix: Self.adamMomentPrefix, training.firstMoments)
            tensors += deferred(trainable, prefix: Self.adamVelocityPrefix, training.secondMoments)
        }

        let document = ModelFileDocument(format: ModelFileDocument.format, version: ModelFileDocument.version, config: config,
                                         classes: classes, background: background, normalization: normalization,
                                         training: training?.state)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json: String
        do {
            json = String(decoding: try encoder.encode(document), as: UTF8.self)
        } catch {
            throw fail("cannot encode the metadata: \(error)")
        }
        try SafeTensorsWriter.write(deferred: tensors, metadata: ["segpipe": json], toFile: path)
    }

    /// A decoding error of the metadata, in one line. Foundation reports a number it cannot
    /// hold (1e30 for an integer) as "not valid JSON", which it is.
    static func metadataProblem(_ error: any Error, json: Data) -> String {
        if case DecodingError.dataCorrupted(let context) = error, context.codingPath.isEmpty,
           (try? JSONSerialization.jsonObject(with: json)) != nil {
            return "a number is out of range or not of the kind expected (an integer where 2.5 or 1e30 stands)"
        }
        return ModelFileError.explain(error)
    }

    private static func read(_ name: String, shape: [Int], from reader: SafeTensorsReader) throws -> HostTensor {
        guard let entry = reader.entries[name] else {
            throw ModelFileError(path: reader.path, reason: "tensor \(name) is missing")
        }
        guard entry.shape == shape else {
            throw ModelFileError(path: reader.path, reason: "tensor \(name) has shape \(entry.shape), expected \(shape)")
        }
        let tensor = try reader.tensor(name)
        // Training stops at the first non-finite loss, so no saved model holds NaN or infinity;
        // one that does would paint every pixel one class, and a negative variance NaN.
        if let bad = tensor.values.firstIndex(where: { !$0.isFinite }) {
            throw ModelFileError(path: reader.path, reason: "tensor \(name) holds \(tensor.values[bad]) at element \(bad); a model's values must be finite")
        }
        if name.hasSuffix("moving_variance") || name.hasPrefix(adamVelocityPrefix), let bad = tensor.values.firstIndex(where: { $0 < 0 }) {
            throw ModelFileError(path: reader.path, reason: "tensor \(name) holds \(tensor.values[bad]) at element \(bad); a variance cannot be negative")
        }
        return tensor
    }
}
