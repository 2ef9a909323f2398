import Foundation
@testable import Raster
import Testing
@testable import Pipeline

@Suite struct BlockReaderTests {
    private func write(_ path: String, width: Int, height: Int, bands: Int, layout: TIFFWriter.Layout) throws -> RasterBuffer {
        let writer = try TIFFWriter(path: path, width: width, height: height, bands: bands, sampleType: .uint16,
                                    layout: layout, compression: .deflate)
        var buffer = RasterBuffer(bands: bands, width: width, height: height)
        for b in 0..<bands {
            for y in 0..<height { for x in 0..<width { buffer[b, y, x] = Float(b * 10_000 + y * width + x) } }
        }
        try writer.writeRows(buffer)
        try writer.finish()
        return buffer
    }

    /// Reads `area` window by window into one buffer, checking that the windows tile it exactly.
    private func assemble(_ blocks: BlockReader, area: PixelWindow) throws -> RasterBuffer {
        var out = RasterBuffer(bands: blocks.reader.info.bands, width: area.width, height: area.height)
        var covered = [Int](repeating: 0, count: area.pixelCount)
        try blocks.forEachWindow(in: area) { window, buffer in
            #expect(window.pixelCount * buffer.bands <= blocks.windowSamples, "\(window)")
            for b in 0..<buffer.bands {
                for y in 0..<window.height {
                    for x in 0..<window.width {
                        out[b, window.y - area.y + y, window.x - area.x + x] = buffer[b, y, x]
                        if b == 0 { covered[(window.y - area.y + y) * area.width + window.x - area.x + x] += 1 }
                    }
                }
            }
        }
        #expect(covered.allSatisfy { $0 == 1 })
        return out
    }

    /// Strips wider than a window's share are read in parts, each strip still decoded once: a
    /// 1-row strip of a very wide image used to be one window, however many samples it held.
    @Test func wideStripsAreReadInPartsAndDecodedOnce() throws {
        let folder = try TemporaryDirectory()
        let path = folder.file("wide.tif")
        let image = try write(path, width: 301, height: 9, bands: 3, layout: .stripped(rowsPerStrip: 2))
        // A budget of its own: tests running alongside may hold the shared one.
        let reader = try TIFFReader(path: path, budget: DecodedChunkBudget(bytes: 1 << 20))
        let blocks = BlockReader(reader, windowSamples: 3 * 2 * 40)
        let area = PixelWindow(x: 7, y: 1, width: 290, height: 8)
        #expect(try assemble(blocks, area: area) == image.cropped(to: area))
        #expect(Array(blocks.windows(in: area)).count > 8 * 290 / 80)
        #expect(reader.chunksDecoded == 5)
    }

    /// Tiles are read a whole tile row tall and whole tiles across, so each tile is decoded once
    /// even by a reader that keeps nothing: windows of fewer rows came back to each tile row
    /// several times, and on a wide image its tiles had left the memo by then.
    @Test func tileRowsAreReadInWholeTilesAcross() throws {
        let folder = try TemporaryDirectory()
        let path = folder.file("tiled.tif")
        let image = try write(path, width: 100, height: 40, bands: 2, layout: .tiled(width: 16, height: 16))
        let reader = try TIFFReader(path: path, decodedChunkLimit: 0, budget: DecodedChunkBudget(bytes: 1 << 20))
        let blocks = BlockReader(reader, windowSamples: 2 * 16 * 40)
        let area = PixelWindow(x: 0, y: 0, width: 100, height: 40)
        #expect(try assemble(blocks, area: area) == image)
        for window in blocks.windows(in: area) {
            #expect(window.x % 16 == 0 && (window.width % 16 == 0 || window.x + window.width == 100), "\(window)")
            #expect(window.y % 16 == 0 && (window.height == 16 || window.y + window.height == 40), "\(window)")
        }
        #expect(reader.chunksDecoded == 7 * 3)
    }
}

extension BlockReaderTests {
    /// Windows are made one at a time: a forged header can declare 2^31 rows in a 200-byte
    /// file, and building the list of every window first took 17 GB before the first read
    /// could refuse the file.
    @Test func windowsAreMadeAsTheyAreRead() throws {
        let folder = try TemporaryDirectory()
        let path = folder.file("small.tif")
        _ = try write(path, width: 4, height: 8, bands: 1, layout: .stripped(rowsPerStrip: 4))
        let reader = try TIFFReader(path: path)
        let huge = PixelWindow(x: 0, y: 0, width: 4, height: 1 << 40)
        var windows = BlockReader(reader).windows(in: huge)
        #expect(windows.next() == PixelWindow(x: 0, y: 0, width: 4, height: 4))
        #expect(windows.next() == PixelWindow(x: 0, y: 4, width: 4, height: 4))
        var reads = 0
        #expect(throws: RasterError.self) { try BlockReader(reader).forEachWindow(in: huge) { _, _ in reads += 1 } }
        #expect(reads == 2)
    }
}
