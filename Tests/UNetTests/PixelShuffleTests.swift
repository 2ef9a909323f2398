import CDNNL
import Testing
@testable import UNet

/// The pixel shuffle's strided views, checked element by element against the depth-to-space
/// definition in every layout family it accepts.
@Suite struct PixelShuffleTests {
    @Test(arguments: [
        (dnnl_nhwc, dnnl_nhwc, 3), (dnnl_nchw, dnnl_nhwc, 3), (dnnl_nhwc, dnnl_nchw, 5),
        (dnnl_nChw8c, dnnl_nChw8c, 8), (dnnl_nChw8c, dnnl_nChw8c, 16), (dnnl_nChw16c, dnnl_nChw16c, 16),
    ])
    func reorderBetweenViewsIsDepthToSpace(packedTag: dnnl_format_tag_t, spreadTag: dnnl_format_tag_t, channels: Int) throws {
        let (batch, height, width) = (2, 3, 2)
        let harness = try LayerHarness()
        let engine = harness.engine
        let packedShape = [batch, height, width, 4 * channels]
        let packedValues = (0..<packedShape.reduce(1, *)).map(Double.init)
        let packed = try DNNLMemory(MemoryDescriptor(dims: [batch, 4 * channels, height, width], tag: packedTag), engine: engine)
        try harness.write(packedValues, packedShape, into: packed)
        let spread = try DNNLMemory(MemoryDescriptor(dims: [batch, channels, 2 * height, 2 * width], tag: spreadTag), engine: engine)
        let shuffle = try PixelShuffle(packed: packed.descriptor, spread: spread.descriptor)

        let forward = try PrimitiveDescriptor.reorder(from: shuffle.packedView, to: shuffle.spreadView, engine: engine)
        try PrimitiveCall(forward, [
            (ExecutionArgument.source, DNNLMemory(view: shuffle.packedView, of: packed, engine: engine)),
            (ExecutionArgument.destination, DNNLMemory(view: shuffle.spreadView, of: spread, engine: engine)),
        ]).execute(on: engine)
        try engine.wait()
        let spreadValues = try harness.read(spread)
        var mismatches = 0
        for n in 0..<batch {
            for r in 0..<height {
                for c in 0..<width {
                    for i in 0..<2 {
                        for j in 0..<2 {
                            for o in 0..<channels {
                                let expected = packedValues[((n * height + r) * width + c) * 4 * channels + (2 * i + j) * channels + o]
                                let actual = spreadValues[((n * 2 * height + 2 * r + i) * 2 * width + 2 * c + j) * channels + o]
                                if actual != expected { mismatches += 1 }
                            }
                        }
                    }
                }
            }
        }
        #expect(mismatches == 0)

        // The inverse direction restores the packed tensor exactly.
        let restored = try DNNLMemory(packed.descriptor, engine: engine)
        let inverse = try PrimitiveDescriptor.reorder(from: shuffle.spreadView, to: shuffle.packedView, engine: engine)
        try PrimitiveCall(inverse, [
            (ExecutionArgument.source, DNNLMemory(view: shuffle.spreadView, of: spread, engine: engine)),
            (ExecutionArgument.destination, DNNLMemory(view: shuffle.packedView, of: restored, engine: engine)),
        ]).execute(on: engine)
        try engine.wait()
        #expect(try harness.read(restored) == packedValues)
    }

    @Test func blocksThatDoNotDivideTheChannelsAreRejected() throws {
        let packed = try MemoryDescriptor(dims: [1, 16, 2, 2], tag: dnnl_nChw8c)
        let spread = try MemoryDescriptor(dims: [1, 4, 4, 4], tag: dnnl_nChw8c)
        #expect(throws: UNetError.self) { try PixelShuffle(packed: packed, spread: spread) }
        let plainSpread = try MemoryDescriptor(dims: [1, 4, 4, 4], tag: dnnl_nhwc)
        #expect(throws: UNetError.self) { try PixelShuffle(packed: packed, spread: plainSpread) }
    }

    @Test func channelBlocks() throws {
        #expect(PixelShuffle.channelBlock(of: try MemoryDescriptor(dims: [1, 8, 2, 2], tag: dnnl_nhwc)) == 1)
        #expect(PixelShuffle.channelBlock(of: try MemoryDescriptor(dims: [1, 8, 2, 2], tag: dnnl_nChw8c)) == 8)
        #expect(PixelShuffle.channelBlock(of: try MemoryDescriptor(dims: [1, 32, 2, 2], tag: dnnl_nChw16c)) == 16)
        #expect(PixelShuffle.channelBlock(of: try MemoryDescriptor(dims: [1, 8, 2, 2], tag: dnnl_format_tag_any)) == nil)
        #expect(PixelShuffle.channelBlock(of: try MemoryDescriptor(dims: [8, 8, 1, 1], tag: dnnl_OIhw8i8o)) == nil)
    }
}
