import CDNNL
import Foundation
import Testing
@testable import UNet

@Suite struct UNetModelTests {
    static let config = UNetConfig(nClasses: 3, nChannels: 3, tileSize: 16, nFiltersStart: 4, growthFactor: 2, depth: 2,
                                   upsampling: .transpose, dropout: 0.25, classWeights: [0.2, 0.5, 0.3])

    static func batch(_ config: UNetConfig, n: Int = 2, seed: UInt64 = 91) -> (input: HostTensor, targets: HostTensor) {
        let side = config.tileSize
        let x = randomValues(n * side * side * config.nChannels, seed: seed).map(Float.init)
        // Learnable targets: class c is on where input band c is positive.
        var y = [Float](repeating: 0, count: n * side * side * config.nClasses)
        for p in 0..<(n * side * side) {
            for c in 0..<config.nClasses { y[p * config.nClasses + c] = x[p * config.nChannels + c % config.nChannels] > 0 ? 1 : 0 }
        }
        return (HostTensor(shape: [n, side, side, config.nChannels], values: x), HostTensor(shape: [n, side, side, config.nClasses], values: y))
    }

    @Test func overfitsOneBatchTenfoldIn200Steps() throws {
        var config = Self.config
        config.dropout = 0
        config.nFiltersStart = 8
        let model = try UNetModel(config: config, seed: 3)
        model.learningRate = 3e-3
        let (input, targets) = Self.batch(config)
        let first = try model.trainStep(input: input, targets: targets)
        var last = first
        for _ in 1..<200 { last = try model.trainStep(input: input, targets: targets) }
        #expect(last * 10 < first, "loss \(first) → \(last)")
        #expect(model.adamStep == 200)
    }

    /// Under bf16 the head's convolution keeps f32 arithmetic (its logits decide the classes),
    /// while a convolution that does not ask for f32 gets the graph's bf16 mode.
    @Test func theHeadStaysF32UnderBF16() throws {
        let model = try UNetModel(config: Self.config, seed: 5, precision: .bf16)
        let built = try model.graph(batch: 1, height: 16, width: 16, training: true)
        #expect(built.head.precision == .f32)
        #expect(!built.head.forward.allowsBF16)

        let engine = try DNNLEngine()
        let graph = NetworkGraph(engine: engine, training: false, precision: .bf16, dropoutGenerator: DropoutGenerator(state: 1))
        let input = try graph.activation(MemoryDescriptor(dims: [1, 8, 16, 16], tag: dnnl_nhwc))
        let kernel = try ParameterTensor(name: "c.kernel", kerasShape: [3, 3, 8, 8], trainable: false,
                                         values: [Float](repeating: 0.1, count: 576), engine: engine)
        let bias = try ParameterTensor(name: "c.bias", kerasShape: [8], trainable: false, values: [Float](repeating: 0, count: 8), engine: engine)
        let layer = try ConvolutionLayer(graph: graph, input: input, kernel: kernel, bias: bias, relu: true)
        #expect(layer.precision == .bf16)
        #expect(layer.forward.allowsBF16)
    }

    /// oneDNN's reference code is orders of magnitude slower than its jit kernels: on AVX-512 it
    /// once computed the 8-band input's kernel gradient, 11 s of a 12 s training step.
    /// bf16 has fewer kernels than f32 there: with 8 or 24 filters some layers' bf16 primitives
    /// were reference code (training such a graph falls back to f32), and f32 convolutions
    /// carrying the bf16 fpmath mode could be too.
    @Test(arguments: [false, true], [(Precision.f32, 16), (.bf16, 16), (.bf16, 8), (.bf16, 24)])
    func noPrimitiveRunsReferenceCode(training: Bool, variant: (precision: Precision, filters: Int)) throws {
        let (precision, filters) = variant
        let config = UNetConfig(nClasses: 5, nChannels: 8, tileSize: 32, nFiltersStart: filters, growthFactor: 2, depth: 2,
                                upsampling: .transpose, dropout: 0.1, classWeights: [0.2, 0.2, 0.2, 0.2, 0.2])
        let model = try UNetModel(config: config, seed: 5, precision: precision)
        let built = try model.graph(batch: 2, height: 32, width: 32, training: training)
        let steps = built.graph.forwardSteps + built.graph.backwardSteps
        let implementations = steps.compactMap { step -> String? in
            guard case .primitive(let call) = step else { return nil }
            return call.descriptor.implementation
        }
        #expect(!implementations.isEmpty)
        #expect(built.referencePrimitives.isEmpty, "\(implementations)")
        #expect(implementations.filter { $0.hasPrefix("ref") } == built.referencePrimitives)
    }

    @Test func sameSeedGivesSameWeightsAndSameTraining() throws {
        let (input, targets) = Self.batch(Self.config)
        let a = try UNetModel(config: Self.config, seed: 11)
        let b = try UNetModel(config: Self.config, seed: 11)
        let c = try UNetModel(config: Self.config, seed: 12)
        #expect(a.parameters() == b.parameters())
        #expect(a.parameters()["enc1.conv1.kernel"] != c.parameters()["enc1.conv1.kernel"])
        let kernel = try #require(a.parameters()["enc1.conv1.kernel"])
        let limit = Float((6.0 / Double(9 * (3 + 4))).squareRoot())
        #expect(kernel.values.allSatisfy { abs($0) <= limit })
        #expect(kernel.values.contains { abs($0) > limit / 2 })
        #expect(a.parameters()["enc2.bn.moving_variance"]?.values.allSatisfy { $0 == 1 } == true)
        for _ in 0..<3 {
            let lossA = try a.trainStep(input: input, targets: targets)
            let lossB = try b.trainStep(input: input, targets: targets)
            #expect(lossA == lossB)
        }
        #expect(a.parameters() == b.parameters())
        #expect(a.dropoutGeneratorState == b.dropoutGeneratorState)
    }

    @Test func resumedOptimizerContinuesExactly() throws {
        let (input, targets) = Self.batch(Self.config)
        let original = try UNetModel(config: Self.config, seed: 21)
        for _ in 0..<2 { _ = try original.trainStep(input: input, targets: targets) }
        let resumed = try UNetModel(config: Self.config, seed: 99)
        try resumed.setParameters(original.parameters())
        let state = original.optimizerState()
        #expect(state.step == 2)
        try resumed.setOptimizerState(step: state.step, m: state.m, v: state.v)
        resumed.dropoutGeneratorState = original.dropoutGeneratorState
        #expect(try original.trainStep(input: input, targets: targets) == resumed.trainStep(input: input, targets: targets))
        #expect(original.parameters() == resumed.parameters())
        #expect(resumed.adamStep == 3)
    }

    /// A training graph run in inference mode gives the inference graph's probabilities, also for
    /// a batch it pads, and leaves the training where it was: the moving statistics, the dropout
    /// draws and the next step are those of a model that never validated.
    @Test(arguments: ConvolutionAlgorithm.allCases)
    func validationForwardMatchesInferenceAndLeavesTrainingAlone(algorithm: ConvolutionAlgorithm) throws {
        let (input, targets) = Self.batch(Self.config, n: 4)
        let validating = try UNetModel(config: Self.config, seed: 41, convolutionAlgorithm: algorithm)
        let plain = try UNetModel(config: Self.config, seed: 41, convolutionAlgorithm: algorithm)
        for model in [validating, plain] {
            for _ in 0..<3 { _ = try model.trainStep(input: input, targets: targets) }
        }
        let probe = Self.batch(Self.config, n: 3, seed: 92).input
        let validated = try validating.validationForward(probe)
        let expected = try validating.forward(probe)
        #expect(validated.shape == expected.shape)
        let difference = zip(validated.values, expected.values).map { abs($0 - $1) }.max() ?? 1
        #expect(difference < 1e-5, "largest difference \(difference)")
        #expect(try validating.validationForward(probe) == validated)

        #expect(validating.dropoutGeneratorState == plain.dropoutGeneratorState)
        let sameStatistics = validating.parameters() == plain.parameters()
        #expect(sameStatistics, "validating moved the moving statistics")
        #expect(try validating.trainStep(input: input, targets: targets) == plain.trainStep(input: input, targets: targets))
        let sameStep = validating.parameters() == plain.parameters()
        #expect(sameStep, "the next step's parameters differ")
    }

    /// Gradients and Adam moments exist only once a training graph needs them; moments set
    /// before that are kept and carried into them.
    @Test func onlyTrainingAllocatesGradientsAndMoments() throws {
        let (input, targets) = Self.batch(Self.config)
        let model = try UNetModel(config: Self.config, seed: 51)
        var values = TestValues(state: 3)
        let trainable = ModelFile.trainableShapes(Self.config)
        let m = Dictionary(uniqueKeysWithValues: trainable.map { ($0.name, values.tensor($0.shape)) })
        let v = Dictionary(uniqueKeysWithValues: trainable.map { ($0.name, HostTensor(shape: $0.shape, values: values.tensor($0.shape).values.map(abs))) })
        try model.setOptimizerState(step: 4, m: m, v: v)
        _ = try model.forward(input)
        let kernel = try #require(model.parameter(named: "enc1.conv1.kernel"))
        #expect(kernel.master != nil)
        #expect(kernel.gradient == nil && kernel.firstMoment == nil && kernel.secondMoment == nil)
        #expect(model.optimizerState().m == m)

        // Built with its training graph, this one takes the moments straight into its memory.
        let copy = try UNetModel(config: Self.config, seed: 51, batchSize: 2)
        try copy.setOptimizerState(step: 4, m: m, v: v)
        #expect(try model.trainStep(input: input, targets: targets) == copy.trainStep(input: input, targets: targets))
        #expect(kernel.gradient != nil && kernel.firstMoment != nil && kernel.secondMoment != nil)
        let same = model.parameters() == copy.parameters() && model.optimizerState().v == copy.optimizerState().v
        #expect(same, "the moments set before training were not carried into it")
    }

    @Test func parametersRoundTripAndGiveIdenticalOutputs() throws {
        let (input, targets) = Self.batch(Self.config)
        let trained = try UNetModel(config: Self.config, seed: 31)
        _ = try trained.trainStep(input: input, targets: targets)
        let copy = try UNetModel(config: Self.config, seed: 32)
        try copy.setParameters(trained.parameters())
        #expect(copy.parameters() == trained.parameters())
        #expect(try copy.forward(input) == trained.forward(input))
        let names = Set(trained.parameters().keys)
        #expect(names == Set(Self.config.parameterShapes.map(\.name)))
    }

    @Test func setParametersNamesTheBadTensor() throws {
        let model = try UNetModel(config: Self.config, seed: 41)
        var missing = model.parameters()
        missing["dec1.bn.beta"] = nil
        #expect { try model.setParameters(missing) } throws: { "\($0)".contains("dec1.bn.beta") }
        var wrong = model.parameters()
        wrong["enc2.conv1.kernel"] = HostTensor(shape: [3, 3, 4, 7])
        #expect { try model.setParameters(wrong) } throws: { "\($0)".contains("enc2.conv1.kernel") && "\($0)".contains("[3, 3, 4, 8]") }
        // A refused update leaves the model unchanged.
        #expect(model.parameters()["dec1.bn.beta"] == missing["dec1.bn.beta"] ?? model.parameters()["dec1.bn.beta"])
    }

    @Test func fullyIgnoredBatchHasZeroLossAndGradient() throws {
        let (input, targets) = Self.batch(Self.config)
        let model = try UNetModel(config: Self.config, seed: 51)
        let ignore = HostTensor(shape: [2, 16, 16], repeating: 1)
        #expect(try model.trainStep(input: input, targets: targets, ignoreMask: ignore) == 0)
        #expect(model.gradients().values.allSatisfy { $0.values.allSatisfy { $0 == 0 } })
    }

    @Test func rejectsBadShapes() throws {
        let model = try UNetModel(config: Self.config, seed: 61)
        #expect(throws: UNetError.self) { try model.forward(HostTensor(shape: [1, 10, 16, 3])) }
        #expect(throws: UNetError.self) { try model.forward(HostTensor(shape: [1, 16, 16, 4])) }
        let (input, _) = Self.batch(Self.config)
        #expect(throws: UNetError.self) { try model.trainStep(input: input, targets: HostTensor(shape: [2, 16, 16, 2])) }
        #expect(throws: UNetError.self) { try UNetModel(config: UNetConfig(tileSize: 100)) }
    }

    @Test func predictsOnLargerInputsThanTheTile() throws {
        let model = try UNetModel(config: Self.config, seed: 71)
        let input = HostTensor(shape: [1, 32, 48, 3], values: randomValues(32 * 48 * 3, seed: 72).map(Float.init))
        let output = try model.forward(input)
        #expect(output.shape == [1, 32, 48, 3])
        #expect(output.values.allSatisfy { $0 > 0 && $0 < 1 })
    }

    @Test(arguments: Upsampling.allCases)
    func bf16AgreesWithF32(upsampling: Upsampling) throws {
        var config = Self.config
        config.upsampling = upsampling
        let f32 = try UNetModel(config: config, seed: 81)
        let bf16 = try UNetModel(config: config, seed: 81, precision: .bf16)
        #expect(bf16.precision == .bf16)
        let (input, targets) = Self.batch(config)
        let a = try f32.forward(input).values
        let b = try bf16.forward(input).values
        #expect(zip(a, b).map { abs($0 - $1) }.max() ?? 1 < 0.02)
        let lossA = try f32.trainStep(input: input, targets: targets)
        let lossB = try bf16.trainStep(input: input, targets: targets)
        #expect(abs(lossA - lossB) < 0.02 * lossA)
    }
}
