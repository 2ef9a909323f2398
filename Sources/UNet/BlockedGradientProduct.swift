import CPanelProduct

/// The 36 products of a Winograd kernel gradient, ∂L/∂U[p] = V[p]ᵀ·W[p] summed over a chunk's
/// tiles, by an AVX2 kernel of our own (`blocked_gradient_product`): how `WinogradKernelGradient`
/// multiplies on CPUs without AVX-512.
///
/// The transforms write the transformed input V and the transformed output gradient W by
/// blocks of 8 channels (`WinogradGeometry.channelBlocked`), so every row of either operand
/// that the kernel's 4×16 register tile reads is a contiguous 32 bytes and nothing is packed.
/// Read row by row instead, V would be a transposed operand whose rows lie a whole row of
/// channels apart; `panel_product` took 1.5× oneDNN's time that way (`docs/performance.md`).
struct BlockedGradientProduct: Sendable {
    let inChannels: Int, outChannels: Int
    /// Tiles a chunk's transformed tensors have room for (a block of 8 channels is 8 floats per tile).
    let chunkTiles: Int

    /// Groups of 16 output channels (the last one 8 when there is an odd number of 8-blocks).
    var pairs: Int { (outChannels + 15) / 16 }

    /// Computes part `part` of `parts` of the 36 products over the chunk's first `depth` tiles,
    /// each part a run of whole column pairs: ∂L/∂U[p] = V[p]ᵀ·W[p], or ∂L/∂U[p] += V[p]ᵀ·W[p]
    /// when `accumulate`. `v`, `w` and `gradient` hold the 36 positions one after another.
    func multiply(depth: Int, v: UnsafeMutableRawPointer, w: UnsafeMutableRawPointer, gradient: UnsafeMutableRawPointer,
                  accumulate: Bool, part: Int, of parts: Int) {
        let v = UnsafePointer(v.assumingMemoryBound(to: Float.self)), w = UnsafePointer(w.assumingMemoryBound(to: Float.self))
        let gradient = gradient.assumingMemoryBound(to: Float.self)
        PanelProduct.forEachRun(matrices: WinogradTransform.positions, groups: pairs, part: part, of: parts) { position, run in
            blocked_gradient_product(inChannels, outChannels, depth, 8 * chunkTiles, v + position * chunkTiles * inChannels,
                                     w + position * chunkTiles * outChannels, gradient + position * inChannels * outChannels,
                                     run.lowerBound, run.upperBound, accumulate ? 1 : 0)
        }
    }
}
