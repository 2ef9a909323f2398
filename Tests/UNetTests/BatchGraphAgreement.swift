import Testing
@testable import UNet

/// A model with the default convolution algorithm and a direct one from the same seed, checked
/// to agree through inference graphs of two batch sizes (a pair of tiles, then its first alone)
/// before and after both load the parameters of a model built from `newSeed`: the forms the
/// default algorithm keeps with a parameter (transformed kernels, panels) must be shared by
/// both graphs and follow new values. Returns the models, with the new parameters, and the pair.
func expectGraphsOfTwoBatchSizesAgreeWithDirect(_ config: UNetConfig, seed: UInt64, newSeed: UInt64,
                                                inputSeed: UInt64) throws -> (model: UNetModel, direct: UNetModel, pair: HostTensor) {
    let model = try UNetModel(config: config, seed: seed)
    let direct = try UNetModel(config: config, seed: seed, convolutionAlgorithm: .direct)
    let (side, channels) = (config.tileSize, config.nChannels)
    let pair = HostTensor(shape: [2, side, side, channels], values: randomValues(2 * side * side * channels, seed: inputSeed).map(Float.init))
    let single = HostTensor(shape: [1, side, side, channels], values: Array(pair.values.prefix(side * side * channels)))
    _ = try model.forward(pair)
    #expect(maximumDifference(try model.forward(single), try direct.forward(single)) < 1e-5)
    // New weights must reach both cached graphs, not only the one that runs first.
    let retrained = try UNetModel(config: config, seed: newSeed)
    try model.setParameters(retrained.parameters())
    try direct.setParameters(retrained.parameters())
    #expect(maximumDifference(try model.forward(single), try direct.forward(single)) < 1e-5)
    #expect(maximumDifference(try model.forward(pair), try direct.forward(pair)) < 1e-5)
    return (model, direct, pair)
}
