/// The decoded strips or tiles one `TIFFReader` keeps between reads, so that neighbouring
/// windows, or windows drawn again from the same area, do not decode the same chunk twice.
///
/// One chunk is always kept (the buffer the reader decodes into). Beyond it the memo keeps up
/// to `limit` bytes, each chunk drawn from a `DecodedChunkBudget` shared by all readers, and
/// reuses the least recently used buffer when either runs out. Buffers are malloc'd and never
/// cleared, so their pages become resident only as a decoder writes them.
final class DecodedChunkMemo {
    struct Key: Hashable {
        var page: Int
        var index: Int
    }

    /// Chunks kept, at most, whatever their size: a miss looks through every slot for the least
    /// recently used, which must stay cheap beside decoding even a small tile.
    static let maximumSlots = 4096

    /// Bytes kept beyond the first chunk, at most.
    let limit: Int
    let budget: DecodedChunkBudget

    private var chunkBytes = 0
    private var buffers: [UnsafeMutableRawPointer] = []
    private var keys: [Key?] = []
    private var lastUse: [UInt64] = []
    private var slotOf: [Key: Int] = [:]
    private var clock: UInt64 = 0

    init(limit: Int, budget: DecodedChunkBudget) {
        self.limit = max(limit, 0)
        self.budget = budget
    }

    deinit { removeAll() }

    /// Chunks held now.
    var count: Int { slotOf.count }
    /// Chunks decoded so far.
    private(set) var decodes = 0

    /// The samples of chunk `key`, `bytes` long decoded, calling `decode` to fill a buffer
    /// unless one holds them already. A chunk whose decoding fails is not kept.
    func chunk(_ key: Key, bytes: Int,
               decode: (UnsafeMutableRawPointer) throws(RasterError) -> Void) throws(RasterError) -> UnsafeRawPointer {
        // All buffers have one size, that of the page's chunks: another page's layout starts over.
        if bytes != chunkBytes {
            removeAll()
            chunkBytes = bytes
        }
        clock += 1
        if let slot = slotOf[key] {
            lastUse[slot] = clock
            return UnsafeRawPointer(buffers[slot])
        }
        let slot = freeSlot()
        if let old = keys[slot] { slotOf[old] = nil }
        keys[slot] = nil
        decodes += 1
        do {
            try decode(buffers[slot])
        } catch {
            lastUse[slot] = 0
            throw error
        }
        keys[slot] = key
        slotOf[key] = slot
        lastUse[slot] = clock
        return UnsafeRawPointer(buffers[slot])
    }

    /// A buffer for a new chunk: a new one while the limit and the budget allow, else the least
    /// recently used.
    private func freeSlot() -> Int {
        let drawn = max(buffers.count - 1, 0)
        // drawn · chunkBytes never exceeds the limit, so the subtraction cannot overflow.
        if buffers.isEmpty
            || (buffers.count < Self.maximumSlots && chunkBytes <= limit - drawn * chunkBytes && budget.reserve(chunkBytes)) {
            buffers.append(UnsafeMutableRawPointer.allocate(byteCount: max(chunkBytes, 16), alignment: 16))
            keys.append(nil)
            lastUse.append(0)
            return buffers.count - 1
        }
        var oldest = 0
        for slot in lastUse.indices where lastUse[slot] < lastUse[oldest] { oldest = slot }
        return oldest
    }

    /// Frees every buffer and gives the drawn bytes back.
    func removeAll() {
        if buffers.count > 1 { budget.release((buffers.count - 1) * chunkBytes) }
        for buffer in buffers { buffer.deallocate() }
        buffers = []
        keys = []
        lastUse = []
        slotOf = [:]
    }
}
