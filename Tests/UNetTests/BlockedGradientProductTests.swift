import Testing
@testable import UNet

/// `BlockedGradientProduct`'s AVX2 kernel against Float64 sums of V[p]ᵀ·W[p] over tiles, with
/// both operands stored by blocks of 8 channels as the transforms write them: a last column group
/// of 8 output channels, fewer tiles used than the chunk holds, the product added to what ∂L/∂U
/// held, and the 36 positions split into parts at column groups that are not a position's first.
@Suite(.enabled(if: PanelProduct.supported, "needs AVX2 and FMA"))
struct BlockedGradientProductTests {
    @Test(arguments: [(16, 32, 20, 20, false), (24, 40, 30, 17, true), (8, 8, 5, 5, false)])
    func matchesTheDoublePrecisionSum(inChannels: Int, outChannels: Int, chunkTiles: Int, depth: Int, accumulate: Bool) {
        let positions = WinogradTransform.positions
        let product = BlockedGradientProduct(inChannels: inChannels, outChannels: outChannels, chunkTiles: chunkTiles)
        let v = randomValues(positions * chunkTiles * inChannels, seed: 81), w = randomValues(positions * chunkTiles * outChannels, seed: 82)
        let before = randomValues(positions * inChannels * outChannels, seed: 83)
        // v and w index (position, tile, channel); stored blocked: (position, channel / 8, tile, channel % 8).
        func blocked(_ values: [Double], channels: Int) -> [Float] {
            var stored = [Float](repeating: 0, count: values.count)
            for p in 0..<positions {
                for k in 0..<chunkTiles {
                    for c in 0..<channels {
                        stored[p * chunkTiles * channels + (c / 8) * chunkTiles * 8 + k * 8 + c % 8] = Float(values[(p * chunkTiles + k) * channels + c])
                    }
                }
            }
            return stored
        }
        var expected = accumulate ? before : [Double](repeating: 0, count: before.count)
        for p in 0..<positions {
            for i in 0..<inChannels {
                for o in 0..<outChannels {
                    for k in 0..<depth {
                        expected[(p * inChannels + i) * outChannels + o] += v[(p * chunkTiles + k) * inChannels + i] * w[(p * chunkTiles + k) * outChannels + o]
                    }
                }
            }
        }
        var vStored = blocked(v, channels: inChannels), wStored = blocked(w, channels: outChannels)
        for parts in [1, 3] {
            var gradient = before.map(Float.init)
            vStored.withUnsafeMutableBytes { vBytes in
                wStored.withUnsafeMutableBytes { wBytes in
                    gradient.withUnsafeMutableBytes { gBytes in
                        guard let v = vBytes.baseAddress, let w = wBytes.baseAddress, let g = gBytes.baseAddress else { return }
                        for part in 0..<parts {
                            product.multiply(depth: depth, v: v, w: w, gradient: g, accumulate: accumulate, part: part, of: parts)
                        }
                    }
                }
            }
            let error = relativeError(gradient.map(Double.init), expected)
            #expect(error < 1e-5, "\(parts) parts: relative error \(error)")
        }
    }
}
