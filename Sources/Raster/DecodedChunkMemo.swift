/// The decoded strips or tiles one `TIFFReader` keeps between reads, so that neighbouring
/// windows, or windows drawn again from the same area, do not decode the same chunk twice.
///
/// A reader always keeps one chunk of up to `ownChunkBytes` (the buffer it decodes into).
/// Everything else it keeps is drawn from a `DecodedChunkBudget` shared with other readers:
/// a first chunk larger than that (a whole image in one strip), and further chunks up to
/// `limit` bytes. When the budget or the limit runs out the least recently used buffer is
/// reused, and a chunk too large to keep at all is decoded into a buffer freed when the read
/// ends (`endRead`). So however many readers are open, memory stays within their small buffers
/// and the budgets, whatever the files declare. Buffers are malloc'd and never cleared, so
/// their pages become resident only as a decoder writes them.
final class DecodedChunkMemo {
    struct Key: Hashable {
        var page: Int
        var index: Int
    }

    /// The largest chunk a reader keeps without drawing on the budget: tiles and strips of
    /// ordinary files are far smaller (a 256×256 tile of 8 uint16 bands is 1 MiB).
    static let ownChunkBytes = 4 << 20
    /// Chunks kept, at most, whatever their size: a miss looks through every slot for the least
    /// recently used, which must stay cheap beside decoding even a small tile.
    static let maximumSlots = 4096

    /// Bytes kept beyond the first chunk, at most.
    let limit: Int
    let budget: DecodedChunkBudget

    private var chunkBytes = 0
    private var buffers: [UnsafeMutableRawPointer] = []
    /// Buffers whose bytes were drawn from the budget.
    private var drawnCount = 0
    private var keys: [Key?] = []
    private var lastUse: [UInt64] = []
    private var slotOf: [Key: Int] = [:]
    private var clock: UInt64 = 0
    /// The buffer of a chunk too large to keep, for the read in progress.
    private var transient: UnsafeMutableRawPointer?

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
    /// unless one holds them already. A chunk whose decoding fails is not kept. The pointer is
    /// valid until the next call or `endRead`.
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
        decodes += 1
        guard let slot = freeSlot() else {
            let buffer = transient ?? UnsafeMutableRawPointer.allocate(byteCount: max(chunkBytes, 16), alignment: 16)
            transient = buffer
            try decode(buffer)
            return UnsafeRawPointer(buffer)
        }
        if let old = keys[slot] { slotOf[old] = nil }
        keys[slot] = nil
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

    /// Frees the buffer of a chunk too large to keep; a reader calls it when a read ends.
    func endRead() {
        transient?.deallocate()
        transient = nil
    }

    /// A buffer for a new chunk: the reader's own while it has none and the chunk is small, a
    /// new drawn one while the limit and the budget allow, else the least recently used; nil
    /// when there is none to reuse.
    private func freeSlot() -> Int? {
        if buffers.isEmpty && chunkBytes <= Self.ownChunkBytes {
            return appendBuffer(drawn: false)
        }
        // The first chunk is drawn whatever the limit; further ones within it. Those already
        // kept beyond the first never exceed the limit, so the subtraction cannot overflow.
        let withinLimit = buffers.isEmpty || chunkBytes <= limit - (buffers.count - 1) * chunkBytes
        if buffers.count < Self.maximumSlots, withinLimit, budget.reserve(chunkBytes) {
            return appendBuffer(drawn: true)
        }
        guard !buffers.isEmpty else { return nil }
        var oldest = 0
        for slot in lastUse.indices where lastUse[slot] < lastUse[oldest] { oldest = slot }
        return oldest
    }

    private func appendBuffer(drawn: Bool) -> Int {
        buffers.append(UnsafeMutableRawPointer.allocate(byteCount: max(chunkBytes, 16), alignment: 16))
        keys.append(nil)
        lastUse.append(0)
        if drawn { drawnCount += 1 }
        return buffers.count - 1
    }

    /// Frees every buffer and gives the drawn bytes back.
    func removeAll() {
        budget.release(drawnCount * chunkBytes)
        for buffer in buffers { buffer.deallocate() }
        buffers = []
        drawnCount = 0
        keys = []
        lastUse = []
        slotOf = [:]
        endRead()
    }
}
