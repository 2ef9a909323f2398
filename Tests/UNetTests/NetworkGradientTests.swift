import Foundation
import Testing
@testable import UNet

/// The whole small network's training step against the Float64 reference U-Net: the forward
/// output and loss directly, and every trainable tensor's gradient (at its largest entry and one
/// other) against central finite differences of the reference loss.
@Suite struct NetworkGradientTests {
    static func smallConfig(_ upsampling: Upsampling) -> UNetConfig {
        UNetConfig(nClasses: 3, nChannels: 3, tileSize: 32, nFiltersStart: 4, growthFactor: 2, depth: 2,
                   upsampling: upsampling, dropout: 0, classWeights: [0.2, 0.5, 0.3])
    }

    @Test(arguments: Upsampling.allCases)
    func trainStepGradientsMatchFiniteDifferences(upsampling: Upsampling) throws {
        let config = Self.smallConfig(upsampling)
        let (n, side) = (2, 32)
        let model = try UNetModel(config: config, seed: 5)
        let initial = model.parameters()
        var reference = ReferenceUNet(config: config, parameters: initial.mapValues { $0.values.map(Double.init) })
        let x = randomValues(n * side * side * config.nChannels, seed: 81)
        let targets = randomValues(n * side * side * config.nClasses, seed: 82).map { $0 > 0.2 ? 1.0 : 0.0 }
        let ignore = randomValues(n * side * side, seed: 83).map { $0 > 0.7 ? 1.0 : 0.0 }
        let input = HostTensor(shape: [n, side, side, config.nChannels], values: x.map(Float.init))

        let expected = reference.evaluate(input: x, batch: n, side: side, targets: targets, ignore: ignore)
        let probabilities = try model.forward(input, training: true)
        #expect(relativeError(probabilities.values.map(Double.init), expected.logits.map { 1 / (1 + exp(-$0)) }) < 1e-4)

        let loss = try model.trainStep(input: input, targets: HostTensor(shape: [n, side, side, config.nClasses], values: targets.map(Float.init)),
                                       ignoreMask: HostTensor(shape: [n, side, side], values: ignore.map(Float.init)))
        #expect(abs(Double(loss) - expected.loss) / expected.loss < 1e-4)

        let gradients = model.gradients()
        #expect(Set(gradients.keys) == Set(config.parameterShapes.map(\.name).filter { !$0.contains("moving_") }))
        // A small step: with larger ones the perturbation flips ReLUs near zero, which biases the
        // difference by a few tenths of a percent.
        let step = 1e-6
        var worst = 0.0
        let overall = gradients.values.flatMap(\.values).map { abs(Double($0)) }.max() ?? 0
        for (name, gradient) in gradients.sorted(by: { $0.key < $1.key }) {
            let values = gradient.values.map(Double.init)
            let largest = values.indices.max { abs(values[$0]) < abs(values[$1]) } ?? 0
            for index in Set([largest, (values.count * 7) / 11]) {
                let original = reference.parameters[name]![index]
                reference.parameters[name]![index] = original + step
                let plus = reference.evaluate(input: x, batch: n, side: side, targets: targets, ignore: ignore).loss
                reference.parameters[name]![index] = original - step
                let minus = reference.evaluate(input: x, batch: n, side: side, targets: targets, ignore: ignore).loss
                reference.parameters[name]![index] = original
                let numeric = (plus - minus) / (2 * step)
                // Relative to the tensor's largest gradient (f32 rounding swamps tiny entries), or
                // to the network's for tensors whose gradient vanishes (a bias just before a
                // batch normalisation).
                let error = abs(values[index] - numeric) / max(abs(values[largest]), 1e-3 * overall)
                worst = max(worst, error)
                #expect(error < 1e-3, "\(name)[\(index)]: step \(values[index]), finite differences \(numeric)")
            }
        }
        print("worst relative gradient error (\(upsampling)): \(worst)")
    }
}
