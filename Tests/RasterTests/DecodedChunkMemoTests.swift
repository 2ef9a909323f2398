import CTIFF
import Foundation
import Testing
@testable import Raster

@Suite struct DecodedChunkMemoTests {
    /// Decodes chunk `index` as `bytes` copies of its index, counting the calls.
    final class CountingDecoder {
        var calls: [Int] = []
        func decode(_ index: Int, _ buffer: UnsafeMutableRawPointer, bytes: Int) {
            calls.append(index)
            buffer.initializeMemory(as: UInt8.self, repeating: UInt8(index), count: bytes)
        }
    }

    private func read(_ memo: DecodedChunkMemo, _ index: Int, bytes: Int = 100, page: Int = 0,
                      _ decoder: CountingDecoder) throws -> UInt8 {
        let chunk = try memo.chunk(.init(page: page, index: index), bytes: bytes) { buffer in
            decoder.decode(index, buffer, bytes: bytes)
        }
        return chunk.load(fromByteOffset: bytes - 1, as: UInt8.self)
    }

    @Test func keepsChunksWithinItsLimitAndEvictsTheLeastRecentlyUsed() throws {
        let budget = DecodedChunkBudget(bytes: 10_000)
        let memo = DecodedChunkMemo(limit: 200, budget: budget)
        let decoder = CountingDecoder()
        // One chunk of its own plus two drawn from the budget.
        for index in [1, 2, 3, 1, 2, 3] { #expect(try read(memo, index, decoder) == UInt8(index)) }
        #expect(decoder.calls == [1, 2, 3])
        #expect(memo.count == 3)
        #expect(budget.availableBytes == 10_000 - 200)
        // 1 is the least recently used once 2 and 3 are read again.
        for index in [2, 3, 4, 2, 3, 1] { #expect(try read(memo, index, decoder) == UInt8(index)) }
        #expect(decoder.calls == [1, 2, 3, 4, 1])
        memo.removeAll()
        #expect(budget.availableBytes == 10_000)
    }

    @Test func readersShareOneBudgetAndGiveItBackWhenClosed() throws {
        let budget = DecodedChunkBudget(bytes: 250)
        let decoder = CountingDecoder()
        var first: DecodedChunkMemo? = DecodedChunkMemo(limit: 1_000, budget: budget)
        for index in 0..<5 { _ = try read(first!, index, decoder) }
        // Its own chunk and two drawn (200 of 250 bytes): the third would pass the budget.
        #expect(first!.count == 3)
        #expect(budget.availableBytes == 50)
        let second = DecodedChunkMemo(limit: 1_000, budget: budget)
        for index in 0..<3 { _ = try read(second, index, decoder) }
        #expect(second.count == 1, "only the chunk every reader decodes into")
        first = nil
        #expect(budget.availableBytes == 250)
        for index in 0..<3 { _ = try read(second, index, decoder) }
        #expect(second.count == 3)
    }

    @Test func aFailedDecodeIsNotKept() throws {
        let memo = DecodedChunkMemo(limit: 1_000, budget: DecodedChunkBudget(bytes: 1_000))
        let decoder = CountingDecoder()
        _ = try read(memo, 1, decoder)
        #expect(throws: RasterError.self) {
            _ = try memo.chunk(.init(page: 0, index: 2), bytes: 100) { (_) throws(RasterError) in
                throw RasterError(path: "x.tif", reason: "corrupt")
            }
        }
        #expect(memo.count == 1)
        #expect(try read(memo, 2, decoder) == 2)
        #expect(decoder.calls == [1, 2])
    }

    @Test func anotherChunkSizeStartsOverAndPagesAreKeptApart() throws {
        let budget = DecodedChunkBudget(bytes: 10_000)
        let memo = DecodedChunkMemo(limit: 1_000, budget: budget)
        let decoder = CountingDecoder()
        _ = try read(memo, 1, page: 0, decoder)
        _ = try read(memo, 1, page: 1, decoder)
        #expect(decoder.calls == [1, 1])
        _ = try read(memo, 1, bytes: 300, page: 0, decoder)
        #expect(decoder.calls == [1, 1, 1])
        #expect(memo.count == 1)
        #expect(budget.availableBytes == 10_000)
    }

    /// Whatever the memo keeps, every window reads what the file holds: a reader keeping nothing
    /// beyond one chunk and one keeping every chunk agree on a long random walk of windows over
    /// strips, tiles and separate planes, across two pages.
    @Test(arguments: ["strips", "tiles", "planes"])
    func readersKeepingMoreOrFewerChunksReadTheSame(layout: String) throws {
        let folder = try TemporaryFolder()
        let path = folder.file("\(layout).tif")
        var fixture = TIFFFixture()
        (fixture.width, fixture.height, fixture.bands, fixture.pages) = (61, 47, 3, 2)
        fixture.compression = COMPRESSION_ADOBE_DEFLATE
        switch layout {
        case "tiles": fixture.tile = (16, 16)
        case "planes": fixture.planar = .separate
        default: fixture.rowsPerStrip = 3
        }
        try fixture.write(to: path)
        let expected = [fixture.expected(page: 0), fixture.expected(page: 1)]
        let budget = DecodedChunkBudget(bytes: 1 << 20)
        let lean = try TIFFReader(path: path, decodedChunkLimit: 0, budget: budget)
        let keeping = try TIFFReader(path: path, decodedChunkLimit: 1 << 20, budget: budget)
        var state: UInt64 = 7
        func next(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(bound))
        }
        for _ in 0..<200 {
            let page = next(2)
            let (width, height) = (1 + next(30), 1 + next(30))
            let window = PixelWindow(x: next(fixture.width - width + 1), y: next(fixture.height - height + 1),
                                     width: width, height: height)
            let truth = expected[page].cropped(to: window)
            #expect(try lean.readWindow(window, page: page) == truth, "\(window) page \(page)")
            #expect(try keeping.readWindow(window, page: page) == truth, "\(window) page \(page)")
        }
        #expect(lean.decodedChunkCount == 1)
        #expect(keeping.decodedChunkCount > 1)
    }

    /// A row of windows across 1-row strips decodes each strip once, not once per window.
    @Test func aRowOfWindowsDecodesEachStripOnce() throws {
        let folder = try TemporaryFolder()
        let path = folder.file("rows.tif")
        var fixture = TIFFFixture()
        (fixture.width, fixture.height, fixture.rowsPerStrip) = (64, 8, 1)
        try fixture.write(to: path)
        let reader = try TIFFReader(path: path, decodedChunkLimit: 1 << 20, budget: DecodedChunkBudget(bytes: 1 << 20))
        for x in stride(from: 0, to: 64, by: 8) {
            _ = try reader.readWindow(PixelWindow(x: x, y: 0, width: 8, height: 8))
        }
        #expect(reader.chunksDecoded == 8)
        #expect(reader.decodedChunkCount == 8)
        let lean = try TIFFReader(path: path, decodedChunkLimit: 0)
        for x in stride(from: 0, to: 64, by: 8) {
            _ = try lean.readWindow(PixelWindow(x: x, y: 0, width: 8, height: 8))
        }
        #expect(lean.chunksDecoded == 64)
    }
}

extension DecodedChunkMemoTests {
    /// A chunk larger than a reader may keep of its own is drawn from the budget, or, when that
    /// is spent, decoded for the read alone: six readers of one-strip files claiming 512 MB each
    /// held 3 GB between reads.
    @Test func largeChunksAreKeptOnlyWithinTheBudget() throws {
        let big = DecodedChunkMemo.ownChunkBytes + 1
        let budget = DecodedChunkBudget(bytes: big + big / 2)
        let decoder = CountingDecoder()
        let first = DecodedChunkMemo(limit: 0, budget: budget)
        _ = try read(first, 1, bytes: big, decoder)
        _ = try read(first, 1, bytes: big, decoder)
        #expect(first.count == 1 && decoder.calls == [1])
        #expect(budget.availableBytes == big / 2)
        let second = DecodedChunkMemo(limit: 0, budget: budget)
        #expect(try read(second, 2, bytes: big, decoder) == 2)
        second.endRead()
        #expect(try read(second, 2, bytes: big, decoder) == 2)
        #expect(second.count == 0 && decoder.calls == [1, 2, 2])
        first.removeAll()
        #expect(budget.availableBytes == big + big / 2)
    }
}
