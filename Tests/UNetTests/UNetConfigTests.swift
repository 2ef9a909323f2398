import Testing
@testable import UNet

@Test func referenceParameterCountsMatchUNETmd() {
    var config = UNetConfig.reference
    #expect(config.trainableParameterCount < config.parameterCount)
    // UNET.md counts Keras's total parameters, moving statistics included.
    #expect(config.parameterCount == 31_105_669)
    config.upsampling = .nearest
    #expect(config.parameterCount == 31_457_701)
}

@Test func referenceFLOPsMatchUNETmd() {
    var config = UNetConfig.reference
    #expect(abs(config.forwardFLOPsPerTile / 1e9 - 11.74) < 0.01)
    config.upsampling = .nearest
    #expect(abs(config.forwardFLOPsPerTile / 1e9 - 13.57) < 0.01)
}

@Test func invalidConfigurationsAreExplained() {
    let config = UNetConfig(tileSize: 100, depth: 5)
    #expect(config.problems.contains { $0.contains("tile_size 100") })
    #expect(UNetConfig.reference.problems.isEmpty)
    #expect(UNetConfig(nClasses: 3).problems.isEmpty)
    #expect(UNetConfig(nClasses: 3, classWeights: [1, 2]).problems.count == 1)
    // Values from a forged model file or a mistyped option: explained, never a trap.
    #expect(UNetConfig(nFiltersStart: Int.max).problems.contains { $0.hasPrefix("the bottleneck would have 2.9") })
    #expect(UNetConfig(growthFactor: 1 << 62).problems.contains { $0.hasPrefix("the bottleneck would have") })
    #expect(UNetConfig(tileSize: 1 << 20, depth: 5).problems == ["tile_size must be at most 2048 (got 1048576)"])
}

@Test func filterCountsOffTheBlocksOfEightAreWarnedAbout() {
    var config = UNetConfig.reference
    #expect(config.speedWarning == nil)
    config.nFiltersStart = 12
    #expect(config.speedWarning?.hasPrefix("12 filters is not a multiple of 8") == true)
}
