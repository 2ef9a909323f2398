import CDNNL

/// The depth-to-space rearrangement between a packed tensor [N, 4C, H, W], whose channel
/// (2i + j)·C + o holds output channel o of sub-pixel (i, j), and the spread tensor
/// [N, C, 2H, 2W] with that value at pixel (2r + i, 2c + j). Both are described as strided views
/// of one logical 7-D tensor (n, i, j, channel block, r, c, channel within block), so a single
/// reorder between the two views performs the shuffle, or its inverse for gradients.
struct PixelShuffle {
    /// The packed tensor's memory read as the 7-D tensor.
    let packedView: MemoryDescriptor
    /// The spread tensor's memory read as the 7-D tensor.
    let spreadView: MemoryDescriptor

    /// Both tensors must use the same supported layout family: plain (any dimension order) or
    /// one channel block that divides C (`channelBlock(of:)`).
    init(packed: MemoryDescriptor, spread: MemoryDescriptor) throws {
        let packedDims = packed.dims
        let spreadDims = spread.dims
        let (batch, channels, height, width) = (spreadDims[0], spreadDims[1], spreadDims[2] / 2, spreadDims[3] / 2)
        guard packedDims == [batch, 4 * channels, height, width], spreadDims == [batch, channels, 2 * height, 2 * width] else {
            throw UNetError("pixel shuffle: packed \(packedDims) does not match spread \(spreadDims)")
        }
        guard let block = Self.channelBlock(of: packed), Self.channelBlock(of: spread) == block, channels % block == 0 else {
            throw UNetError("pixel shuffle: unsupported layouts for \(packedDims) → \(spreadDims) (channel blocks must match and divide \(channels))")
        }
        let blocks = channels / block
        let s = Self.outerStrides(of: packed)
        let t = Self.outerStrides(of: spread)
        let dims = [batch, 2, 2, blocks, height, width, block]
        let packedStrides = [s[0], 2 * blocks * s[1], blocks * s[1], s[1], s[2], s[3], 1]
        let spreadStrides = [t[0], t[2], t[3], t[1], 2 * t[2], 2 * t[3], 1]
        // Dimensions of extent 1 carry arbitrary strides that can tie with real ones, which
        // oneDNN's overlap check may reject; the tensor is the same without them.
        let kept = dims.indices.filter { dims[$0] > 1 }
        let indices = kept.isEmpty ? [0] : kept
        packedView = try MemoryDescriptor(dims: indices.map { dims[$0] }, strides: indices.map { packedStrides[$0] })
        spreadView = try MemoryDescriptor(dims: indices.map { dims[$0] }, strides: indices.map { spreadStrides[$0] })
    }

    /// The channel block of a 4-D activation layout: 1 for a plain layout, b for a layout with a
    /// single inner block of b channels (nChw8c, nChw16c), nil for anything else.
    static func channelBlock(of descriptor: MemoryDescriptor) -> Int? {
        let raw = descriptor.raw
        guard raw.ndims == 4, raw.format_kind == dnnl_blocked, raw.offset0 == 0 else { return nil }
        let blocking = raw.format_desc.blocking
        switch blocking.inner_nblks {
        case 0: return 1
        case 1 where blocking.inner_idxs.0 == 1: return Int(blocking.inner_blks.0)
        default: return nil
        }
    }

    /// The layout tag to give the spread tensor for a packed layout with channel block `block`.
    static func spreadTag(forChannelBlock block: Int) -> dnnl_format_tag_t {
        switch block {
        case 8: dnnl_nChw8c
        case 16: dnnl_nChw16c
        default: dnnl_nhwc
        }
    }

    /// Strides in elements of the four logical dims (for a blocked layout, of whole channel blocks).
    private static func outerStrides(of descriptor: MemoryDescriptor) -> [Int] {
        withUnsafeBytes(of: descriptor.raw.format_desc.blocking.strides) {
            Array($0.bindMemory(to: Int64.self).prefix(4)).map(Int.init)
        }
    }
}
