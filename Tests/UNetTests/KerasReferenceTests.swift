import Foundation
import Testing
@testable import UNet

/// One Keras reference fixture (made by scripts/make-keras-fixtures.py): the model's weights, a
/// batch, and what Keras computed from them.
struct KerasFixture {
    let model: ModelFile
    let reader: SafeTensorsReader

    init(_ upsampling: Upsampling) throws {
        let path = try fixtureURL("keras-\(upsampling.rawValue)").path
        model = try ModelFile(contentsOfFile: path)
        reader = try SafeTensorsReader(path: path)
    }

    func tensor(_ name: String) throws -> HostTensor { try reader.tensor(name) }

    /// A fresh network holding the fixture's initial weights.
    func makeNetwork() throws -> UNetModel { try model.makeModel(precision: .f32, batchSize: 2) }
}

/// The largest absolute difference, after checking the shapes agree.
func maximumDifference(_ a: HostTensor, _ b: HostTensor) -> Float {
    guard a.shape == b.shape else { return .infinity }
    return zip(a.values, b.values).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// The largest absolute value.
func largestMagnitude(_ tensor: HostTensor) -> Float {
    tensor.values.reduce(0) { max($0, abs($1)) }
}

/// ‖a − b‖ / ‖b‖ over all elements (∞ when the shapes differ).
func relativeDifference(_ a: HostTensor, _ reference: HostTensor) -> Double {
    guard a.shape == reference.shape else { return .infinity }
    var difference = 0.0, norm = 0.0
    for (x, y) in zip(a.values, reference.values) {
        difference += Double(x - y) * Double(x - y)
        norm += Double(y) * Double(y)
    }
    return (difference / max(norm, 1e-30)).squareRoot()
}

@Suite struct KerasReferenceTests {
    @Test(arguments: Upsampling.allCases)
    func inferenceForwardMatchesKeras(upsampling: Upsampling) throws {
        let fixture = try KerasFixture(upsampling)
        let output = try fixture.makeNetwork().forward(try fixture.tensor("input"), training: false)
        let expected = try fixture.tensor("inference_output")
        #expect(output.shape == [2, 32, 32, 3])
        #expect(maximumDifference(output, expected) < 1e-5)
    }

    @Test(arguments: Upsampling.allCases)
    func trainingForwardMatchesKeras(upsampling: Upsampling) throws {
        let fixture = try KerasFixture(upsampling)
        let output = try fixture.makeNetwork().forward(try fixture.tensor("input"), training: true)
        #expect(maximumDifference(output, try fixture.tensor("training_output")) < 1e-5)
    }

    @Test(arguments: Upsampling.allCases)
    func lossAndGradientsMatchKeras(upsampling: Upsampling) throws {
        let fixture = try KerasFixture(upsampling)
        let network = try fixture.makeNetwork()
        let loss = try network.trainStep(input: try fixture.tensor("input"), targets: try fixture.tensor("targets"))
        let expectedLoss = try fixture.tensor("loss").values[0]
        #expect(abs(loss - expectedLoss) <= 1e-5 * expectedLoss, "loss \(loss), Keras \(expectedLoss)")

        let gradients = network.gradients()
        let trainable = ModelFile.trainableShapes(fixture.model.config)
        #expect(Set(gradients.keys).isSuperset(of: trainable.map(\.name)))
        for (name, _) in trainable {
            let expected = try fixture.tensor("grad." + name)
            let actual = try #require(gradients[name], "no gradient for \(name)")
            // A bias feeding a training-mode batch normalisation (dec1.up.bias here) has a zero
            // gradient in exact arithmetic; both sides hold only rounding noise, far below 1e-6.
            if largestMagnitude(actual) < 1e-6 && largestMagnitude(expected) < 1e-6 {
                continue
            }
            let error = relativeDifference(actual, expected)
            #expect(error < 1e-3, "gradient of \(name): relative error \(error)")
        }
    }

    /// Adam's first step moves a weight by about lr·sign(g), so weights whose Keras gradient is
    /// tiny may legitimately go either way; every other weight, and every moving statistic,
    /// must land where Keras put it.
    @Test(arguments: Upsampling.allCases)
    func oneTrainingStepMovesEveryTensorAsKerasDoes(upsampling: Upsampling) throws {
        let fixture = try KerasFixture(upsampling)
        let network = try fixture.makeNetwork()
        _ = try network.trainStep(input: try fixture.tensor("input"), targets: try fixture.tensor("targets"))
        #expect(network.adamStep == 1)
        let after = network.parameters()
        for (name, _) in fixture.model.config.parameterShapes {
            let expected = try fixture.tensor("after_step." + name)
            let actual = try #require(after[name], "no parameter \(name)")
            try #require(actual.shape == expected.shape)
            let gradient = fixture.reader.entries["grad." + name] == nil ? nil : try fixture.tensor("grad." + name)
            let scale = gradient.map(largestMagnitude) ?? 0
            var worst: Float = 0
            for i in expected.values.indices {
                if let gradient, abs(gradient.values[i]) < 1e-3 * scale { continue }
                worst = max(worst, abs(actual.values[i] - expected.values[i]))
            }
            #expect(worst < 2e-5, "\(name) after one step: off by \(worst)")
        }
    }

    @Test func saveThenLoadGivesBitIdenticalOutputs() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("m.safetensors").path
        let fixture = try KerasFixture(.transpose)
        let original = try UNetModel(config: fixture.model.config, seed: 77, batchSize: 2)
        let input = try fixture.tensor("input")
        let before = try original.forward(input)

        try ModelFile(model: original).write(toFile: path)
        let loaded = try ModelFile(contentsOfFile: path).makeModel(batchSize: 2)
        #expect(loaded.parameters() == original.parameters())
        let after = try loaded.forward(input)
        #expect(after.values.map(\.bitPattern) == before.values.map(\.bitPattern))
    }

    /// A run saved with its training state and resumed continues exactly as the uninterrupted
    /// run does, dropout included.
    @Test func trainingStateSurvivesSaveAndLoad() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("checkpoint.safetensors").path
        let fixture = try KerasFixture(.nearest)
        var config = fixture.model.config
        config.dropout = 0.25
        let input = try fixture.tensor("input"), targets = try fixture.tensor("targets")

        let uninterrupted = try UNetModel(config: config, seed: 5, batchSize: 2)
        for _ in 0..<2 { _ = try uninterrupted.trainStep(input: input, targets: targets) }
        try ModelFile(model: uninterrupted, includeTraining: true).write(toFile: path)
        let resumed = try ModelFile(contentsOfFile: path).makeModel(batchSize: 2)
        #expect(resumed.adamStep == 2)
        #expect(resumed.dropoutGeneratorState == uninterrupted.dropoutGeneratorState)

        let expectedLoss = try uninterrupted.trainStep(input: input, targets: targets)
        let loss = try resumed.trainStep(input: input, targets: targets)
        #expect(loss.bitPattern == expectedLoss.bitPattern)
        #expect(resumed.parameters() == uninterrupted.parameters())
        let state = resumed.optimizerState(), expectedState = uninterrupted.optimizerState()
        #expect(state.step == 3 && state.m == expectedState.m && state.v == expectedState.v)
    }
}
