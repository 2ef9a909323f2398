import Foundation

/// The file formats segpipe reads, recognised by their first bytes rather than their names.
public enum RasterFileKind: Sendable, Equatable {
    case tiff, png

    /// Reads the signature of the file at `path`.
    public static func detect(path: String) throws -> RasterFileKind {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw RasterError.cannotOpen(path, "no such file")
        }
        guard !isDirectory.boolValue else { throw RasterError(path: path, reason: "is a folder, not an image file") }
        try RegularFile.check(path)
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw RasterError(path: path, reason: "cannot be opened for reading")
        }
        defer { try? handle.close() }
        let head = [UInt8]((try? handle.read(upToCount: 8)) ?? Data())
        if let kind = kind(ofSignature: head) { return kind }
        if head.isEmpty { throw RasterError(path: path, reason: "file is empty") }
        throw RasterError(path: path, reason: "not a TIFF or PNG file (unrecognised signature)")
    }

    static func kind(ofSignature head: [UInt8]) -> RasterFileKind? {
        if head.count >= 8 && head[0..<8].elementsEqual([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if head.count >= 4 {
            let little = head[0] == 0x49 && head[1] == 0x49 && (head[2] == 42 || head[2] == 43) && head[3] == 0
            let big = head[0] == 0x4D && head[1] == 0x4D && head[2] == 0 && (head[3] == 42 || head[3] == 43)
            if little || big { return .tiff }
        }
        return nil
    }
}
