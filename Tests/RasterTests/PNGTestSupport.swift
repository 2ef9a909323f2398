import Foundation
@testable import Raster

/// A fresh folder under the system temporary directory, removed when the test drops it.
final class PNGTestDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "segpipe-png-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    func file(_ name: String) -> String { path + "/" + name }

    var contents: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
    }
}

/// Chunk surgery on PNG bytes, for building damaged files.
enum PNGBytes {
    static let signature: [UInt8] = [137, 80, 78, 71, 13, 10, 26, 10]

    static func crc32(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let typeBytes = Array(type.utf8)
        return bigEndian(UInt32(data.count)) + typeBytes + data + bigEndian(crc32(typeBytes + data))
    }

    /// Offset of the first chunk of `type` (at its length field) and its data length.
    static func find(_ type: String, in bytes: [UInt8]) -> (offset: Int, length: Int)? {
        var at = 8
        let typeBytes = Array(type.utf8)
        while at + 8 <= bytes.count {
            let length = Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
            if Array(bytes[(at + 4)..<(at + 8)]) == typeBytes { return (at, length) }
            at += 12 + length
        }
        return nil
    }

    static func read(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    static func write(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }
}

/// Reads every row of a PNG, so errors anywhere in the file surface.
func readWholePNG(_ path: String) throws -> RasterBuffer {
    let reader = try PNGReader(path: path)
    return try reader.readRows(reader.info.height)
}

/// Writes a PNG whose samples are `sample(x, y, channel)`, one row at a time.
func writeTestPNG(_ path: String, width: Int, height: Int, layout: PNGWriter.Layout, interlaced: Bool = false,
                  sample: (Int, Int, Int) -> UInt16) throws {
    let writer = try PNGWriter(path: path, width: width, height: height, layout: layout, interlaced: interlaced)
    let channels = layout.channels
    for y in 0..<height {
        var row = [UInt16](repeating: 0, count: width * channels)
        for x in 0..<width {
            for c in 0..<channels { row[x * channels + c] = sample(x, y, c) }
        }
        try writer.writeRow(row)
    }
    try writer.finish()
}
