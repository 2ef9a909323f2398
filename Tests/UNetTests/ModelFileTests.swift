import Foundation
import Testing
@testable import UNet

/// Deterministic pseudo-random values for test tensors (SplitMix64).
struct TestValues {
    var state: UInt64
    mutating func next() -> Float {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Float(z >> 40) / Float(1 << 24) * 2 - 1
    }
    mutating func tensor(_ shape: [Int]) -> HostTensor {
        HostTensor(shape: shape, values: (0..<shape.reduce(1, *)).map { _ in next() })
    }
}

let smallConfig = UNetConfig(nClasses: 3, nChannels: 4, tileSize: 32, nFiltersStart: 4, depth: 2,
                             dropout: 0, classWeights: [0.2, 0.5, 0.3])

func randomParameters(_ config: UNetConfig, seed: UInt64) -> [String: HostTensor] {
    var values = TestValues(state: seed)
    return Dictionary(uniqueKeysWithValues: config.parameterShapes.map { parameter in
        var tensor = values.tensor(parameter.shape)
        // A variance is never negative; model files holding one are refused.
        if parameter.name.hasSuffix("moving_variance") { tensor.values = tensor.values.map { abs($0) } }
        return (parameter.name, tensor)
    })
}

@Suite struct ModelFileTests {
    @Test(arguments: [Upsampling.transpose, .nearest])
    func everythingSurvivesARoundTrip(upsampling: Upsampling) throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("model.safetensors").path
        var config = smallConfig
        config.upsampling = upsampling
        let trainable = ModelFile.trainableShapes(config)
        var values = TestValues(state: 9)
        let training = TrainingState(
            adamStep: 1234,
            adamM: Dictionary(uniqueKeysWithValues: trainable.map { ($0.name, values.tensor($0.shape)) }),
            adamV: Dictionary(uniqueKeysWithValues: trainable.map { shape in
                var velocity = values.tensor(shape.shape)
                velocity.values = velocity.values.map { abs($0) }
                return (shape.name, velocity)
            }),
            dropoutGeneratorState: UInt64.max - 12345)
        let model = ModelFile(
            config: config, parameters: randomParameters(config, seed: 1),
            classes: [ModelClass(name: "roads & \"tracks\"", red: 223, green: 194, blue: 125),
                      ModelClass(name: "trees", red: 27, green: 120, blue: 55),
                      ModelClass(name: "water", red: 116, green: 173, blue: 209)],
            background: ModelClass(name: "nothing", red: 0, green: 0, blue: 0),
            normalization: ModelNormalization(mode: "zscore", mean: [1, 2.5, 3, 4e6], std: [0.5, 1, 2, 3]),
            training: training)
        try model.write(toFile: path)

        let loaded = try ModelFile(contentsOfFile: path)
        #expect(loaded.config == config)
        #expect(loaded.parameters == model.parameters)
        #expect(loaded.classes == model.classes)
        #expect(loaded.background == model.background)
        #expect(loaded.normalization == model.normalization)
        #expect(loaded.training == training)
        #expect(try ModelFile(contentsOfFile: path, includeTraining: false).training == nil)

        // Tensors are stored in parameterShapes order, then adam.m., then adam.v.
        let names = try SafeTensorsReader(path: path).names
        #expect(names == config.parameterShapes.map(\.name)
                + trainable.map { "adam.m." + $0.name } + trainable.map { "adam.v." + $0.name })
    }

    @Test func aFileWithOnlyTheConfigIsValidAndUnknownKeysAreIgnored() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("keras.safetensors").path
        let parameters = randomParameters(smallConfig, seed: 2)
        var tensors = smallConfig.parameterShapes.map { (name: $0.name, tensor: parameters[$0.name] ?? HostTensor(shape: [0])) }
        tensors.insert(("optimizer.iterations", HostTensor(shape: [1], values: [7])), at: 3)
        let json = #"{"format":"segpipe-unet","version":1,"future_key":[1,2],"config":{"n_classes":3,"n_channels":4,"tile_size":32,"n_filters_start":4,"growth_factor":2,"depth":2,"upsampling":"transpose","dropout":0.0,"class_weights":[0.2,0.5,0.3],"later":true}}"#
        try SafeTensorsWriter.write(tensors, metadata: ["segpipe": json, "producer": "keras"], toFile: path)

        let loaded = try ModelFile(contentsOfFile: path)
        #expect(loaded.config == smallConfig)
        #expect(loaded.parameters == parameters)
        #expect(loaded.classes == nil && loaded.normalization == nil && loaded.training == nil)
    }

    @Test func aColourOutOfRangeIsNamedAsSuch() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("m.safetensors").path
        let parameters = randomParameters(smallConfig, seed: 2)
        let tensors = smallConfig.parameterShapes.map { (name: $0.name, tensor: parameters[$0.name] ?? HostTensor(shape: [0])) }
        let json = #"{"format":"segpipe-unet","version":1,"background":{"name":"x","color":[1,2,300]},"config":{"n_classes":3,"n_channels":4,"tile_size":32,"n_filters_start":4,"growth_factor":2,"depth":2,"upsampling":"transpose","dropout":0.0,"class_weights":[0.2,0.5,0.3]}}"#
        try SafeTensorsWriter.write(tensors, metadata: ["segpipe": json], toFile: path)
        let error = #expect(throws: ModelFileError.self) { try ModelFile(contentsOfFile: path) }
        #expect(error?.reason == "invalid segpipe metadata: background.color: class x colour [1, 2, 300] must be 3 values from 0 to 255")
    }

    @Test func theKerasFixturesLoadAsModels() throws {
        for mode in Upsampling.allCases {
            let loaded = try ModelFile(contentsOfFile: try fixtureURL("keras-\(mode.rawValue)").path)
            var expected = smallConfig
            expected.upsampling = mode
            #expect(loaded.config == expected)
            #expect(loaded.parameters.count == expected.parameterShapes.count)
        }
    }

    @Test func aMissingTensorIsNamed() throws {
        let error = try writeAndLoadDamaged { $0.removeAll { $0.name == "dec1.bn.moving_variance" } }
        #expect(error.reason == "tensor dec1.bn.moving_variance is missing")
    }

    @Test func aWrongShapedTensorIsNamed() throws {
        let error = try writeAndLoadDamaged { tensors in
            if let i = tensors.firstIndex(where: { $0.name == "enc2.conv1.kernel" }) {
                tensors[i].tensor = HostTensor(shape: [3, 3, 8, 4], repeating: 0)
            }
        }
        #expect(error.reason == "tensor enc2.conv1.kernel has shape [3, 3, 8, 4], expected [3, 3, 4, 8]")
    }

    /// Values no training writes are refused at load: a NaN kernel painted every pixel
    /// background, an infinite bias every pixel one class, with exit status 0.
    @Test func nonFiniteValuesAndNegativeVariancesAreNamed() throws {
        func damaging(_ name: String, _ value: Float) -> (inout [(name: String, tensor: HostTensor)]) -> Void {
            { tensors in
                if let i = tensors.firstIndex(where: { $0.name == name }) { tensors[i].tensor.values[1] = value }
            }
        }
        #expect(try writeAndLoadDamaged(damaging("enc1.conv1.kernel", .nan)).reason
            == "tensor enc1.conv1.kernel holds nan at element 1; a model's values must be finite")
        #expect(try writeAndLoadDamaged(damaging("head.bias", .infinity)).reason
            == "tensor head.bias holds inf at element 1; a model's values must be finite")
        #expect(try writeAndLoadDamaged(damaging("dec1.bn.moving_variance", -0.5)).reason
            == "tensor dec1.bn.moving_variance holds -0.5 at element 1; a variance cannot be negative")
    }

    @Test func aMissingAdamMomentIsNamed() throws {
        let error = try writeAndLoadDamaged(training: true) { $0.removeAll { $0.name == "adam.v.head.bias" } }
        #expect(error.reason == "tensor adam.v.head.bias is missing")
    }

    @Test(arguments: [
        (nil, "no \"segpipe\" entry"),
        ("[]", "the segpipe metadata cannot be read: Expected to decode Dictionary"),
        (#"{"format":"segpipe-unet","version":1e30}"#, "the segpipe metadata cannot be read: a number is out of range"),
        (#"{"format":"keras","version":1}"#, "metadata format is \"keras\""),
        (#"{"format":"segpipe-unet","version":2,"config":{}}"#, "version 2 is newer"),
        (#"{"format":"segpipe-unet","version":1}"#, "config is missing"),
        (#"{"format":"segpipe-unet","version":1,"config":{"n_classes":3}}"#, "config.n_channels is missing"),
        (#"{"format":"segpipe-unet","version":1,"config":{"n_classes":3,"n_channels":4,"tile_size":30,"n_filters_start":4,"growth_factor":2,"depth":2,"upsampling":"transpose","dropout":0,"class_weights":[1,1,1]}}"#, "invalid config: tile_size 30"),
        (#"{"format":"segpipe-unet","version":1,"config":{"n_classes":3,"n_channels":4,"tile_size":32,"n_filters_start":4,"growth_factor":2,"depth":2,"upsampling":"bilinear","dropout":0,"class_weights":[1,1,1]}}"#, "config.upsampling"),
        (#"{"format":"segpipe-unet","version":1,"config":{"n_classes":3,"n_channels":4,"tile_size":32,"n_filters_start":4,"growth_factor":2,"depth":2,"upsampling":"transpose","dropout":0,"class_weights":[1,1,1]},"classes":[{"name":"a","color":[1,2,3]}]}"#, "lists 1 classes but the config has n_classes 3"),
        (#"{"format":"segpipe-unet","version":1,"config":{"n_classes":3,"n_channels":4,"tile_size":32,"n_filters_start":4,"growth_factor":2,"depth":2,"upsampling":"transpose","dropout":0,"class_weights":[1,1,1]},"classes":[{"name":"a","color":[1,2]},{"name":"b","color":[1,2,3]},{"name":"c","color":[1,2,3]}]}"#, "colour must be [r, g, b]"),
        (#"{"format":"segpipe-unet","version":1,"config":{"n_classes":3,"n_channels":4,"tile_size":32,"n_filters_start":4,"growth_factor":2,"depth":2,"upsampling":"transpose","dropout":0,"class_weights":[1,1,1]},"normalization":{"mode":"zscore","mean":[0],"std":[1]}}"#, "normalization has 1 means"),
    ] as [(String?, String)])
    func badMetadataIsExplained(json: String?, expected: String) throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("m.safetensors").path
        try SafeTensorsWriter.write([("x", HostTensor(shape: [1]))], metadata: json.map { ["segpipe": $0] } ?? [:], toFile: path)
        let error = try #require(throws: ModelFileError.self) { try ModelFile(contentsOfFile: path) }
        #expect(error.path == path)
        #expect(error.reason.contains(expected), "\(error)")
    }

    @Test func savingRefusesAWrongShapedParameterAndLeavesTheOldFile() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("m.safetensors").path
        let good = ModelFile(config: smallConfig, parameters: randomParameters(smallConfig, seed: 3))
        try good.write(toFile: path)
        var bad = good
        bad.parameters["head.bias"] = HostTensor(shape: [4])
        let error = try #require(throws: ModelFileError.self) { try bad.write(toFile: path) }
        #expect(error.reason == "cannot save: tensor head.bias has shape [4], expected [3]")
        #expect(try ModelFile(contentsOfFile: path).parameters == good.parameters)

        // Overwriting an existing model replaces it and leaves nothing else behind.
        var second = good
        second.parameters = randomParameters(smallConfig, seed: 4)
        try second.write(toFile: path)
        #expect(try ModelFile(contentsOfFile: path).parameters == second.parameters)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["m.safetensors"])
    }

    /// Writing straight from a model, a tensor at a time, gives the same bytes as the copy of
    /// everything that `ModelFile(model:)` takes first, with and without the training state.
    @Test func writingFromTheModelMatchesWritingItsCopy() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = try UNetModel(config: smallConfig, seed: 8)
        var values = TestValues(state: 12)
        let input = values.tensor([2, 32, 32, 4])
        let targets = HostTensor(shape: [2, 32, 32, 3], values: values.tensor([2, 32, 32, 3]).values.map { $0 > 0 ? 1 : 0 })
        for _ in 0..<2 { _ = try model.trainStep(input: input, targets: targets) }
        let classes = [ModelClass(name: "a", red: 1, green: 2, blue: 3), ModelClass(name: "b", red: 4, green: 5, blue: 6),
                       ModelClass(name: "c", red: 7, green: 8, blue: 9)]
        let normalization = ModelNormalization(mode: "zscore", mean: [1, 2, 3, 4], std: [1, 1, 2, 2])
        for includeTraining in [false, true] {
            let copied = folder.appendingPathComponent("copied.safetensors").path
            let streamed = folder.appendingPathComponent("streamed.safetensors").path
            var file = ModelFile(model: model, includeTraining: includeTraining, classes: classes, normalization: normalization)
            file.training?.trainer = includeTraining ? "{\"batch\":2}" : nil
            try file.write(toFile: copied)
            try ModelFile.write(model: model, includeTraining: includeTraining, classes: classes, normalization: normalization,
                                trainer: includeTraining ? "{\"batch\":2}" : nil, toFile: streamed)
            let same = try Data(contentsOf: URL(fileURLWithPath: copied)) == Data(contentsOf: URL(fileURLWithPath: streamed))
            #expect(same, "includeTraining: \(includeTraining)")
            #expect(try (ModelFile(contentsOfFile: streamed).training != nil) == includeTraining)
        }
    }

    /// Writes a valid model (with training state if asked), lets `damage` edit its tensor list,
    /// rewrites it with the same metadata and returns the error of loading it.
    private func writeAndLoadDamaged(
        training: Bool = false, _ damage: (inout [(name: String, tensor: HostTensor)]) -> Void
    ) throws -> ModelFileError {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("m.safetensors").path
        var model = ModelFile(config: smallConfig, parameters: randomParameters(smallConfig, seed: 5))
        if training {
            let zeros = Dictionary(uniqueKeysWithValues: ModelFile.trainableShapes(smallConfig).map { ($0.name, HostTensor(shape: $0.shape)) })
            model.training = TrainingState(adamStep: 1, adamM: zeros, adamV: zeros, dropoutGeneratorState: 1)
        }
        try model.write(toFile: path)
        let reader = try SafeTensorsReader(path: path)
        var tensors = try reader.names.map { (name: $0, tensor: try reader.tensor($0)) }
        damage(&tensors)
        try SafeTensorsWriter.write(tensors, metadata: reader.metadata, toFile: path)
        return try #require(throws: ModelFileError.self) { try ModelFile(contentsOfFile: path) }
    }
}
