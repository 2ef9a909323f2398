import Raster

/// Streams an area of a TIFF page as a sequence of windows that follow the file's own blocks
/// (tile rows or strips), so each block is decoded once and memory stays bounded whatever the
/// image size: a window holds at most about `samplesPerWindow` samples, however wide the image.
public struct BlockReader {
    /// Samples per window; bounds memory at about 16 MB of Float32.
    public static let samplesPerWindow = 4 << 20

    public let reader: TIFFReader
    /// Samples per window for this reader (`samplesPerWindow` unless a test asks for fewer).
    let windowSamples: Int

    public init(_ reader: TIFFReader) { self.init(reader, windowSamples: Self.samplesPerWindow) }

    init(_ reader: TIFFReader, windowSamples: Int) {
        self.reader = reader
        self.windowSamples = max(windowSamples, 1)
    }

    /// Calls `body` with each window of `area` and its samples, top to bottom, left to right;
    /// with the file's nodata value as NaN (`TIFFReader.readWindowMarkingNodata`).
    public func forEachWindow(in area: PixelWindow, _ body: (PixelWindow, RasterBuffer) throws -> Void) throws {
        for window in windows(in: area) {
            try body(window, try reader.readWindowMarkingNodata(window))
        }
    }

    /// The windows `forEachWindow` reads, in its order, made one at a time: a forged header can
    /// declare 2^62 of them, and the first read must refuse the file before any list is built.
    public func windows(in area: PixelWindow) -> Windows {
        let info = reader.info
        let block = reader.blockSize
        let bandRows = max(1, min(block.height, windowSamples / max(info.bands * area.width, 1)))
        // Tiles: windows a whole tile row tall, split across at tile edges, so each tile is read
        // by one window however wide the image; bands of fewer rows came back to a tile row
        // several times, after the memo had let its tiles go. Strips: bands of whole strips.
        let tileRowFits = info.tiled && block.height * info.bands * block.width <= windowSamples
        let rowsPerWindow = tileRowFits || block.height <= bandRows ? block.height : bandRows
        let fit = max(1, windowSamples / max(info.bands * rowsPerWindow, 1))
        // Whole blocks across where they fit. A block wider than that (the strips of a very wide
        // image) is read in parts: the reader keeps the chunks it decoded, so each still decodes
        // once, and a window never holds more than about `windowSamples` samples.
        let columnsPerWindow = min(area.width, fit >= block.width ? fit / block.width * block.width : fit)
        return Windows(area: area, rowsPerWindow: rowsPerWindow, columnsPerWindow: max(columnsPerWindow, 1))
    }

    /// Windows down an area in bands of `rowsPerWindow` aligned rows, each band left to right.
    public struct Windows: Sequence, IteratorProtocol {
        let area: PixelWindow
        let rowsPerWindow: Int
        let columnsPerWindow: Int
        private var y: Int
        private var x: Int

        init(area: PixelWindow, rowsPerWindow: Int, columnsPerWindow: Int) {
            self.area = area
            self.rowsPerWindow = rowsPerWindow
            self.columnsPerWindow = columnsPerWindow
            (y, x) = (area.y, area.x)
        }

        public mutating func next() -> PixelWindow? {
            guard y < area.y + area.height, area.width > 0 else { return nil }
            let rows = Swift.min((y / rowsPerWindow + 1) * rowsPerWindow, area.y + area.height) - y
            let columns = Swift.min(columnsPerWindow, area.x + area.width - x)
            let window = PixelWindow(x: x, y: y, width: columns, height: rows)
            x += columns
            if x >= area.x + area.width {
                x = area.x
                y += rows
            }
            return window
        }
    }
}
