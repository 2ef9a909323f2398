import Foundation

/// Writes Float32 tensors as a safetensors file: an 8-byte little-endian header length, a JSON
/// header in the tensors' order (padded with spaces to a multiple of 8, as the Python library
/// does), then the little-endian data packed in that order.
///
/// The file appears atomically: it is written under a temporary name in the destination's folder,
/// flushed to disk, then renamed over the destination.
public enum SafeTensorsWriter {
    /// A tensor whose values are produced only when the writer reaches it, so that a file of many
    /// large tensors holds one of them in memory at a time.
    public struct DeferredTensor {
        public let name: String
        public let shape: [Int]
        public let values: () throws -> [Float]

        public init(name: String, shape: [Int], values: @escaping () throws -> [Float]) {
            self.name = name
            self.shape = shape
            self.values = values
        }
    }

    public static func write(
        _ tensors: [(name: String, tensor: HostTensor)], metadata: [String: String] = [:], toFile path: String
    ) throws {
        try write(deferred: tensors.map { entry in DeferredTensor(name: entry.name, shape: entry.tensor.shape) { entry.tensor.values } },
                  metadata: metadata, toFile: path)
    }

    /// Writes tensors whose values are asked for one at a time, in order; each must produce as
    /// many values as its shape holds.
    public static func write(deferred tensors: [DeferredTensor], metadata: [String: String] = [:], toFile path: String) throws {
        var seen = Set<String>()
        for name in tensors.map(\.name) {
            guard name != "__metadata__" else {
                throw ModelFileError(path: path, reason: "a tensor cannot be called __metadata__")
            }
            guard seen.insert(name).inserted else {
                throw ModelFileError(path: path, reason: "tensor \(name) is listed twice")
            }
        }
        let header = headerBytes(tensors, metadata: metadata)

        let destination = URL(fileURLWithPath: path)
        let temporary = destination.deletingLastPathComponent()
            .appendingPathComponent(".\(destination.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).\(UInt32.random(in: 0...UInt32.max)).tmp")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw ModelFileError(path: path, reason: "cannot create the temporary file \(temporary.lastPathComponent) beside it")
        }
        do {
            let handle = try FileHandle(forWritingTo: temporary)
            do {
                var length = UInt64(header.count).littleEndian
                try handle.write(contentsOf: Data(bytes: &length, count: 8))
                try handle.write(contentsOf: header)
                for tensor in tensors {
                    let values: [Float]
                    do {
                        values = try tensor.values()
                    } catch let error as ModelFileError {
                        throw error
                    } catch {
                        throw ModelFileError(path: path, reason: "cannot read tensor \(tensor.name) to write it: \(error)")
                    }
                    let expected = tensor.shape.reduce(1, *)
                    guard values.count == expected else {
                        throw ModelFileError(path: path, reason: "tensor \(tensor.name) has \(values.count) values for shape \(tensor.shape) (\(expected))")
                    }
                    try handle.write(contentsOf: littleEndianBytes(values))
                }
                try handle.synchronize()
            } catch {
                try? handle.close()
                throw error
            }
            try handle.close()
            // A checkpoint replaces the model every epoch: keep the permissions it was given.
            var existing = stat()
            if stat(destination.path, &existing) == 0 {
                _ = chown(temporary.path, existing.st_uid, existing.st_gid)
                _ = chmod(temporary.path, existing.st_mode & 0o777)
            }
            guard rename(temporary.path, destination.path) == 0 else {
                throw ModelFileError(path: path, reason: "cannot rename the temporary file into place: \(String(cString: strerror(errno)))")
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            if let error = error as? ModelFileError { throw error }
            throw ModelFileError(path: path, reason: "cannot write: \((error as NSError).localizedDescription)")
        }
    }

    /// The JSON header, its keys in the tensors' order, `__metadata__` first when present.
    static func headerBytes(_ tensors: [DeferredTensor], metadata: [String: String]) -> Data {
        var parts: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0] ?? ""))" }
            parts.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for tensor in tensors {
            let bytes = 4 * tensor.shape.reduce(1, *)
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            parts.append("\(jsonString(tensor.name)):{\"dtype\":\"F32\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + bytes)]}")
            offset += bytes
        }
        var json = Array("{\(parts.joined(separator: ","))}".utf8)
        // Pad so the data starts 8-byte aligned in the file.
        while json.count % 8 != 0 { json.append(UInt8(ascii: " ")) }
        return Data(json)
    }

    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    private static func littleEndianBytes(_ values: [Float]) -> Data {
        #if _endian(little)
        values.withUnsafeBytes { Data($0) }
        #else
        values.map { $0.bitPattern.littleEndian }.withUnsafeBytes { Data($0) }
        #endif
    }
}
