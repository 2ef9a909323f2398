import CPanelProduct

/// The shape of one Winograd convolution: what the transforms need, as a value that threads share.
struct WinogradGeometry: Sendable {
    let height: Int, width: Int
    let inChannels: Int, outChannels: Int
    let tilesDown: Int, tilesAcross: Int
    let chunkTiles: Int
    let relu: Bool
    /// Channels per block of the input's and the output's layout: 8 (nChw8c) or 16 (nChw16c).
    /// The transforms work on 8 channels at a time either way.
    let inputBlock: Int, outputBlock: Int
    /// Where the output transform writes.
    var placement = WinogradOutputPlacement()
    /// How the transformed input and the transformed output gradient hold a position's tiles:
    /// row by row, [chunk, channels] (what oneDNN's matmul reads), or, when true, by blocks of 8
    /// channels, [channels / 8, chunk, 8] (what `BlockedGradientProduct` reads).
    var channelBlocked = false

    /// Floats between two tiles and between two 8-channel blocks of one tile, within one
    /// position of a transformed tensor of `channels` channels.
    @inline(__always)
    func strides(channels: Int) -> (tile: Int, block: Int) {
        channelBlocked ? (8, chunkTiles &* 8) : (channels, 8)
    }

    /// Visits the tiles in chunks of at most `chunkTiles`, with the number of parts to split each
    /// chunk into over the thread team (one per thread, fewer for a chunk with fewer tiles).
    func forEachChunk(tileCount: Int, _ body: (_ tiles: Range<Int>, _ parts: Int) throws -> Void) rethrows {
        let threads = max(1, OpenMPLoop.threads)
        var first = 0
        while first < tileCount {
            let count = min(chunkTiles, tileCount - first)
            try body(first..<(first + count), min(threads, count))
            first += count
        }
    }

    /// Stores six values of one tile and 8 channels, one per transformed position, `positionStride`
    /// floats apart from `base`.
    @inline(__always)
    static func storePositions(_ r: (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>),
                               at base: UnsafeMutableRawPointer, positionStride: Int) {
        let step = positionStride &* 4
        base.storeBytes(of: r.0, toByteOffset: 0, as: SIMD8<Float>.self)
        base.storeBytes(of: r.1, toByteOffset: step, as: SIMD8<Float>.self)
        base.storeBytes(of: r.2, toByteOffset: 2 &* step, as: SIMD8<Float>.self)
        base.storeBytes(of: r.3, toByteOffset: 3 &* step, as: SIMD8<Float>.self)
        base.storeBytes(of: r.4, toByteOffset: 4 &* step, as: SIMD8<Float>.self)
        base.storeBytes(of: r.5, toByteOffset: 5 &* step, as: SIMD8<Float>.self)
    }

    /// The lane-wise maximum as one compare and blend: the standard library's generic
    /// `pointwiseMax` is not specialised here, and cost 4 % of a predict step as a call per vector.
    @inline(__always)
    static func maximum(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
        a.replacing(with: b, where: a .< b)
    }

    /// Where channels 8·`group` ..< 8·`group` + 8 of `image` start (at pixel 0, in floats) in an
    /// nChw`block`c tensor (`block` 8 or 16, dividing `channels`) of `pixels` pixels; pixels are
    /// `block` floats apart. Shifts, not divisions: this runs for every tile and block.
    @inline(__always)
    static func groupOrigin(image: Int, group: Int, channels: Int, block: Int, pixels: Int) -> Int {
        let sixteen = block &>> 4
        let blockIndex = group &>> sixteen, half = group & sixteen
        return image &* channels &* pixels &+ blockIndex &* pixels &* block &+ half &* 8
    }

    /// Bᵀ d B for every tile in `tiles`, into the chunk's transformed input. Tiles are taken a
    /// row at a time: Bᵀ runs down each input column of the row once (neighbouring tiles share
    /// two columns), then B across each tile. Channel blocks go in pairs: two blocks of 8 floats
    /// fill a 64-byte line of a tile's row in a transformed position, and storing them together
    /// brings each line into the L1 cache once instead of twice. (Stored `channelBlocked`, a
    /// line holds one block of two neighbouring tiles instead.)
    func transformInput(from input: UnsafeMutableRawPointer, into transformedInput: UnsafeMutableRawPointer, tiles: Range<Int>, chunkStart: Int) {
        let source = UnsafePointer(input.assumingMemoryBound(to: Float.self))
        let transformed = transformedInput.assumingMemoryBound(to: Float.self)
        let blocks = inChannels / 8
        let positionStride = chunkTiles &* inChannels
        let (tileStride, blockStride) = strides(channels: inChannels)
        let columnsPerRow = tilesAcross &* 4 &+ 2
        let zero = SIMD8<Float>(repeating: 0)
        withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 2 * 6 * columnsPerRow) { scratch in
            guard let scratchBase = scratch.baseAddress else { return }
            var tile = tiles.lowerBound
            while tile < tiles.upperBound {
                let image = tile / (tilesDown &* tilesAcross)
                let within = tile % (tilesDown &* tilesAcross)
                let tileRow = within / tilesAcross, firstTile = within % tilesAcross
                let lastTile = min(tilesAcross, firstTile &+ tiles.upperBound &- tile)
                let y0 = tileRow &* 4 &- 1, x0 = firstTile &* 4 &- 1
                let spanColumns = (lastTile &- firstTile) &* 4 &+ 2
                let blockColumns = 6 &* spanColumns
                // Patch rows firstRow..<endRow lie inside the image; the others are zero padding.
                let firstRow = max(0, -y0), endRow = min(6, height &- y0)
                for firstBlock in stride(from: 0, to: blocks, by: 2) {
                    let pairBlocks = min(2, blocks &- firstBlock)
                    for member in 0..<pairBlocks {
                        let planeOffset = WinogradGeometry.groupOrigin(image: image, group: firstBlock &+ member, channels: inChannels,
                                                                       block: inputBlock, pixels: height &* width)
                        let plane = source + planeOffset
                        let columns = scratchBase + member &* blockColumns
                        for c in 0..<spanColumns {
                            let x = x0 &+ c
                            var d = (zero, zero, zero, zero, zero, zero)
                            if x >= 0 && x < width {
                                let topOffset: Int = (y0 &* width &+ x) &* inputBlock
                                let top = UnsafeRawPointer(plane + topOffset)
                                let rowBytes = width &* inputBlock &* 4
                                if firstRow <= 0 && 0 < endRow { d.0 = top.loadUnaligned(as: SIMD8<Float>.self) }
                                if firstRow <= 1 && 1 < endRow { d.1 = top.loadUnaligned(fromByteOffset: rowBytes, as: SIMD8<Float>.self) }
                                if firstRow <= 2 && 2 < endRow { d.2 = top.loadUnaligned(fromByteOffset: 2 &* rowBytes, as: SIMD8<Float>.self) }
                                if firstRow <= 3 && 3 < endRow { d.3 = top.loadUnaligned(fromByteOffset: 3 &* rowBytes, as: SIMD8<Float>.self) }
                                if firstRow <= 4 && 4 < endRow { d.4 = top.loadUnaligned(fromByteOffset: 4 &* rowBytes, as: SIMD8<Float>.self) }
                                if firstRow <= 5 && 5 < endRow { d.5 = top.loadUnaligned(fromByteOffset: 5 &* rowBytes, as: SIMD8<Float>.self) }
                            }
                            let r = WinogradTransform.inputRow(d.0, d.1, d.2, d.3, d.4, d.5)
                            columns[c] = r.0
                            columns[spanColumns &+ c] = r.1
                            columns[2 &* spanColumns &+ c] = r.2
                            columns[3 &* spanColumns &+ c] = r.3
                            columns[4 &* spanColumns &+ c] = r.4
                            columns[5 &* spanColumns &+ c] = r.5
                        }
                    }
                    for across in 0..<(lastTile &- firstTile) {
                        let local = tile &+ across &- chunkStart
                        let offset: Int = local &* tileStride &+ firstBlock &* blockStride
                        let column = UnsafeMutableRawPointer(transformed + offset)
                        for k in 0..<6 {
                            let positionBytes: Int = k &* 6 &* positionStride &* 4
                            let t = scratchBase + (k &* spanColumns &+ across &* 4)
                            let r = WinogradTransform.inputRow(t[0], t[1], t[2], t[3], t[4], t[5])
                            WinogradGeometry.storePositions(r, at: column + positionBytes, positionStride: positionStride)
                            if pairBlocks == 2 {
                                let u = t + blockColumns
                                let q = WinogradTransform.inputRow(u[0], u[1], u[2], u[3], u[4], u[5])
                                WinogradGeometry.storePositions(q, at: column + (positionBytes &+ blockStride &* 4), positionStride: positionStride)
                            }
                        }
                    }
                }
                tile = tile &+ (lastTile &- firstTile)
            }
        }
    }

    /// Aᵀ M A for every tile in `tiles`, plus the bias and the ReLU, into the destination (where
    /// `placement` says), and with `placement.pools` the 2×2 max pooling of every pair of rows
    /// and columns that lies inside the output, into `buffers.pooled`.
    func transformOutput(_ buffers: WinogradBuffers, tiles: Range<Int>, chunkStart: Int) {
        // Only the kernel gradient's transforms store by channel blocks; the products read here are row by row.
        assert(!channelBlocked, "the output transform reads products row by row")
        let products = UnsafePointer(buffers.products.assumingMemoryBound(to: Float.self))
        let bias = buffers.bias.map { UnsafePointer($0.assumingMemoryBound(to: Float.self)) }
        let destination = buffers.destination.assumingMemoryBound(to: Float.self)
        let pooled = placement.pools ? buffers.pooled?.assumingMemoryBound(to: Float.self) : nil
        let blocks = outChannels / 8
        let positionStride = chunkTiles * outChannels
        let destinationChannels = placement.tensorChannels ?? outChannels
        let firstGroup = placement.channelOffset / 8
        let pooledHeight = height / 2, pooledWidth = width / 2
        let zero = SIMD8<Float>(repeating: 0)
        withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 24) { scratch in
            guard let t = scratch.baseAddress else { return }
            for tile in tiles {
                let local = tile - chunkStart
                let n = tile / (tilesDown * tilesAcross)
                let within = tile % (tilesDown * tilesAcross)
                let y0 = (within / tilesAcross) * 4, x0 = (within % tilesAcross) * 4
                let rows = min(4, height - y0), columns = min(4, width - x0)
                for block in 0..<blocks {
                    // The 36 positions are 36 read streams, more than the hardware prefetchers
                    // track: each line is asked for 4 lines ahead, once per 2 blocks.
                    if block & 1 == 0 {
                        let ahead = products + (local &* outChannels &+ block &* 8 &+ 64)
                        for position in 0..<WinogradTransform.positions { prefetch_line(ahead + position &* positionStride) }
                    }
                    let column = UnsafeRawPointer(products + local * outChannels + block * 8)
                    func m(_ position: Int) -> SIMD8<Float> {
                        column.loadUnaligned(fromByteOffset: position * positionStride * 4, as: SIMD8<Float>.self)
                    }
                    for j in 0..<6 {
                        let r = WinogradTransform.outputRow(m(j), m(6 + j), m(12 + j), m(18 + j), m(24 + j), m(30 + j))
                        t[j] = r.0; t[6 + j] = r.1; t[12 + j] = r.2; t[18 + j] = r.3
                    }
                    let shift = bias.map { UnsafeRawPointer($0 + block * 8).loadUnaligned(as: SIMD8<Float>.self) } ?? zero
                    let plane = destination + WinogradGeometry.groupOrigin(image: n, group: firstGroup + block, channels: destinationChannels,
                                                                           block: outputBlock, pixels: height * width)
                    let pixelBytes = outputBlock * 4
                    let pooledPlane = pooled.map {
                        $0 + WinogradGeometry.groupOrigin(image: n, group: block, channels: outChannels, block: outputBlock,
                                                          pixels: pooledHeight * pooledWidth)
                    }
                    var above = (zero, zero, zero, zero)
                    for a in 0..<rows {
                        let r = WinogradTransform.outputRow(t[a * 6], t[a * 6 + 1], t[a * 6 + 2], t[a * 6 + 3], t[a * 6 + 4], t[a * 6 + 5])
                        var values = (r.0 + shift, r.1 + shift, r.2 + shift, r.3 + shift)
                        if relu {
                            values = (values.0.replacing(with: zero, where: values.0 .< zero),
                                      values.1.replacing(with: zero, where: values.1 .< zero),
                                      values.2.replacing(with: zero, where: values.2 .< zero),
                                      values.3.replacing(with: zero, where: values.3 .< zero))
                        }
                        let row = UnsafeMutableRawPointer(plane + ((y0 + a) * width + x0) * outputBlock)
                        row.storeBytes(of: values.0, toByteOffset: 0, as: SIMD8<Float>.self)
                        if columns > 1 { row.storeBytes(of: values.1, toByteOffset: pixelBytes, as: SIMD8<Float>.self) }
                        if columns > 2 { row.storeBytes(of: values.2, toByteOffset: 2 * pixelBytes, as: SIMD8<Float>.self) }
                        if columns > 3 { row.storeBytes(of: values.3, toByteOffset: 3 * pixelBytes, as: SIMD8<Float>.self) }
                        guard let pooledPlane else { continue }
                        // Tiles start on even rows and columns, so every pooling window lies in one tile.
                        if a & 1 == 0 {
                            above = values
                            continue
                        }
                        let px = x0 >> 1
                        let cell = UnsafeMutableRawPointer(pooledPlane + (((y0 + a) >> 1) * pooledWidth + px) * outputBlock)
                        if px < pooledWidth {
                            let left = WinogradGeometry.maximum(WinogradGeometry.maximum(above.0, above.1),
                                                                WinogradGeometry.maximum(values.0, values.1))
                            cell.storeBytes(of: left, toByteOffset: 0, as: SIMD8<Float>.self)
                        }
                        if px + 1 < pooledWidth {
                            let right = WinogradGeometry.maximum(WinogradGeometry.maximum(above.2, above.3),
                                                                 WinogradGeometry.maximum(values.2, values.3))
                            cell.storeBytes(of: right, toByteOffset: pixelBytes, as: SIMD8<Float>.self)
                        }
                    }
                }
            }
        }
    }
}

extension WinogradGeometry {
    /// A (∂L/∂Y) Aᵀ for every tile in `tiles`, from the blocked output gradient into the chunk's
    /// transformed gradient ([36, chunk, out]); outputs beyond the image count as zero. Each
    /// tile's position (1, 1) is the sum of its 16 gradients (A's second row is all ones), and
    /// is added to `biasSums` (one `SIMD8<Float>` per block of output channels): the bias
    /// gradient comes out of the transform with no second pass over the gradient.
    func transformOutputGradient(from outputGradient: UnsafeMutableRawPointer, into transformedGradient: UnsafeMutableRawPointer,
                                 biasSums: UnsafeMutablePointer<SIMD8<Float>>, tiles: Range<Int>, chunkStart: Int) {
        let gradient = UnsafeRawPointer(outputGradient)
        let blocks = outChannels / 8
        let positionStride = chunkTiles &* outChannels
        let (tileStride, blockStride) = strides(channels: outChannels)
        let zero = SIMD8<Float>(repeating: 0)
        withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 24) { scratch in
            guard let t = scratch.baseAddress else { return }
            for tile in tiles {
                let local = tile &- chunkStart
                let n = tile / (tilesDown &* tilesAcross)
                let within = tile % (tilesDown &* tilesAcross)
                let y0 = (within / tilesAcross) &* 4, x0 = (within % tilesAcross) &* 4
                let rows = min(4, height &- y0), columns = min(4, width &- x0)
                for block in 0..<blocks {
                    let planeOffset: Int = WinogradGeometry.groupOrigin(image: n, group: block, channels: outChannels, block: outputBlock,
                                                                        pixels: height &* width) &* 4
                    for b in 0..<4 {
                        var y = (zero, zero, zero, zero)
                        if b < columns {
                            let pixel: Int = y0 &* width &+ x0 &+ b
                            let top = gradient + (planeOffset &+ pixel &* outputBlock &* 4)
                            let rowBytes = width &* outputBlock &* 4
                            y.0 = top.loadUnaligned(as: SIMD8<Float>.self)
                            if rows > 1 { y.1 = top.loadUnaligned(fromByteOffset: rowBytes, as: SIMD8<Float>.self) }
                            if rows > 2 { y.2 = top.loadUnaligned(fromByteOffset: 2 &* rowBytes, as: SIMD8<Float>.self) }
                            if rows > 3 { y.3 = top.loadUnaligned(fromByteOffset: 3 &* rowBytes, as: SIMD8<Float>.self) }
                        }
                        let r = WinogradTransform.outputGradientRow(y.0, y.1, y.2, y.3)
                        t[b] = r.0; t[4 &+ b] = r.1; t[8 &+ b] = r.2; t[12 &+ b] = r.3; t[16 &+ b] = r.4; t[20 &+ b] = r.5
                    }
                    let offset: Int = (local &* tileStride &+ block &* blockStride) &* 4
                    let column = transformedGradient + offset
                    for i in 0..<6 {
                        let r = WinogradTransform.outputGradientRow(t[i &* 4], t[i &* 4 &+ 1], t[i &* 4 &+ 2], t[i &* 4 &+ 3])
                        if i == 1 { biasSums[block] += r.1 }
                        let base = column + i &* 6 &* positionStride &* 4
                        WinogradGeometry.storePositions(r, at: base, positionStride: positionStride)
                    }
                }
            }
        }
    }
}

/// The buffers of one Winograd convolution, for the transform threads.
/// `@unchecked Sendable`: the layer keeps every buffer alive while `run` waits for the threads,
/// and the threads write disjoint tiles (of the transformed input, or of the output).
struct WinogradBuffers: @unchecked Sendable {
    let source: UnsafeMutableRawPointer
    let destination: UnsafeMutableRawPointer
    let transformedKernel: UnsafeMutableRawPointer
    let transformedInput: UnsafeMutableRawPointer
    let products: UnsafeMutableRawPointer
    /// Nil for a convolution without bias (the backward-data one).
    let bias: UnsafeMutableRawPointer?
    /// The pooled output, when the placement asks for one.
    let pooled: UnsafeMutableRawPointer?
}

/// Where a Winograd pass's output transform writes.
struct WinogradOutputPlacement: Sendable {
    /// The channels of the tensor written into, when the output is a view of a wider one (a
    /// concatenation's buffer, in the output's channel blocking); nil for the output's own tensor.
    var tensorChannels: Int? = nil
    /// The first channel the output fills in that tensor, a multiple of the channel block.
    var channelOffset = 0
    /// Whether the transform also writes the output's 2×2 max pooling with stride 2 (dropping
    /// an odd last row or column, as Keras's MaxPooling2D does) into a tensor of its own.
    var pools = false
}

extension Range where Bound == Int {
    /// The `part`-th of `parts` nearly equal consecutive pieces.
    func split(_ part: Int, of parts: Int) -> Range<Int> {
        let size = count
        return (lowerBound + size * part / parts)..<(lowerBound + size * (part + 1) / parts)
    }
}

