import Foundation

/// The element types of the safetensors format, with their sizes in bytes.
public enum SafeTensorsDType: String, Sendable, CaseIterable {
    case bool = "BOOL", u8 = "U8", i8 = "I8", f8e4m3 = "F8_E4M3", f8e5m2 = "F8_E5M2"
    case i16 = "I16", u16 = "U16", f16 = "F16", bf16 = "BF16"
    case i32 = "I32", u32 = "U32", f32 = "F32"
    case i64 = "I64", u64 = "U64", f64 = "F64"

    public var byteSize: Int {
        switch self {
        case .bool, .u8, .i8, .f8e4m3, .f8e5m2: 1
        case .i16, .u16, .f16, .bf16: 2
        case .i32, .u32, .f32: 4
        case .i64, .u64, .f64: 8
        }
    }

    /// Whether `SafeTensorsReader.tensor(_:)` can convert this type to Float32.
    public var isConvertibleToFloat: Bool { [.f32, .f16, .bf16, .f64].contains(self) }
}

/// A safetensors file opened for reading: the header is parsed and validated up front (sizes,
/// offsets, overlaps, arithmetic overflow), tensors are converted to Float32 only on request.
///
/// The file is memory-mapped. segpipe replaces model files by rename, never in place, so a
/// mapping stays valid while the reader lives.
public struct SafeTensorsReader: Sendable {
    /// One tensor's header entry; `byteRange` is relative to the start of the file.
    public struct Entry: Sendable, Equatable {
        public var dtype: SafeTensorsDType
        public var shape: [Int]
        public var byteRange: Range<Int>
    }

    /// Header lengths beyond this are refused (the reference implementation's cap).
    public static let maximumHeaderLength = 100_000_000

    public let path: String
    /// The `__metadata__` string map; empty when the file has none.
    public let metadata: [String: String]
    /// Tensor names in the order of their data in the file.
    public let names: [String]
    public let entries: [String: Entry]
    private let data: Data

    public init(path: String) throws {
        // A FIFO or device would block or never end; only regular files are read.
        let target = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        guard FileManager.default.fileExists(atPath: target) else {
            throw ModelFileError(path: path, reason: "no such file")
        }
        if let type = try? FileManager.default.attributesOfItem(atPath: target)[.type] as? FileAttributeType,
           type != .typeRegular {
            throw ModelFileError(path: path, reason: "not a regular file")
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw ModelFileError(path: path, reason: "cannot read: \(ModelFileError.explain(error))")
        }
        try self.init(data: data, path: path)
    }

    /// Parses a safetensors file already in memory; `path` names it in errors.
    public init(data: Data, path: String) throws {
        func fail(_ reason: String) -> ModelFileError { ModelFileError(path: path, reason: reason) }
        let fileSize = data.count
        guard fileSize >= 8 else {
            throw fail("not a safetensors file: \(fileSize) bytes, shorter than the 8-byte header length")
        }
        let headerLength = data.withUnsafeBytes { raw in
            UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        }
        guard headerLength <= UInt64(Self.maximumHeaderLength) else {
            throw fail("header length \(headerLength) exceeds the limit of \(Self.maximumHeaderLength) bytes")
        }
        guard headerLength <= UInt64(fileSize - 8) else {
            throw fail("truncated: header length \(headerLength) but only \(fileSize - 8) bytes follow")
        }
        let headerEnd = 8 + Int(headerLength)
        let headerBytes = data.subdata(in: data.startIndex + 8 ..< data.startIndex + headerEnd)
        let header: SafeTensorsHeader
        do {
            header = try JSONDecoder().decode(SafeTensorsHeader.self, from: headerBytes)
        } catch let error as SafeTensorsHeader.Problem {
            throw fail(error.message)
        } catch {
            throw fail("header is not valid safetensors JSON: \(ModelFileError.explain(error))")
        }

        let dataSize = fileSize - headerEnd
        var entries: [String: Entry] = [:]
        for (name, raw) in header.tensors {
            guard let dtype = SafeTensorsDType(rawValue: raw.dtype) else {
                throw fail("tensor \(name) has unknown dtype \(raw.dtype)")
            }
            guard raw.shape.allSatisfy({ $0 >= 0 }) else {
                throw fail("tensor \(name) has a negative dimension in shape \(raw.shape)")
            }
            var elements = 1
            for dimension in raw.shape {
                let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
                guard !overflow else { throw fail("tensor \(name) shape \(raw.shape) overflows") }
                elements = product
            }
            let (byteCount, overflow) = elements.multipliedReportingOverflow(by: dtype.byteSize)
            guard !overflow else { throw fail("tensor \(name) shape \(raw.shape) overflows") }
            guard raw.dataOffsets.count == 2 else {
                throw fail("tensor \(name) data_offsets must have two entries, has \(raw.dataOffsets.count)")
            }
            let begin = raw.dataOffsets[0], end = raw.dataOffsets[1]
            guard begin >= 0, begin <= end else {
                throw fail("tensor \(name) has invalid data_offsets [\(begin), \(end)]")
            }
            guard end <= dataSize else {
                throw fail("truncated: tensor \(name) ends at byte \(end) of the data but the data has \(dataSize) bytes")
            }
            guard end - begin == byteCount else {
                throw fail("tensor \(name) has \(end - begin) bytes of data but \(dtype.rawValue) \(raw.shape) needs \(byteCount)")
            }
            entries[name] = Entry(dtype: dtype, shape: raw.shape, byteRange: headerEnd + begin ..< headerEnd + end)
        }

        // As the reference implementation requires: tensors tile the data exactly, no overlap,
        // no gap, nothing after the last one.
        let ordered = entries.sorted {
            ($0.value.byteRange.lowerBound, $0.value.byteRange.upperBound, $0.key)
                < ($1.value.byteRange.lowerBound, $1.value.byteRange.upperBound, $1.key)
        }
        var position = headerEnd
        for (name, entry) in ordered {
            if entry.byteRange.lowerBound < position {
                throw fail("tensor \(name) overlaps the data of another tensor")
            }
            if entry.byteRange.lowerBound > position {
                throw fail("gap of \(entry.byteRange.lowerBound - position) bytes before tensor \(name)")
            }
            position = entry.byteRange.upperBound
        }
        guard position == fileSize else {
            throw fail("\(fileSize - position) bytes after the last tensor's data")
        }

        self.path = path
        self.metadata = header.metadata
        self.names = ordered.map(\.key)
        self.entries = entries
        self.data = data
    }

    /// The tensor called `name` converted to Float32 (from F32, F16, BF16 or F64).
    public func tensor(_ name: String) throws -> HostTensor {
        guard let entry = entries[name] else {
            throw ModelFileError(path: path, reason: "tensor \(name) is missing")
        }
        guard entry.dtype.isConvertibleToFloat else {
            throw ModelFileError(path: path, reason: "tensor \(name) has dtype \(entry.dtype.rawValue); only F32, F16, BF16 and F64 can be read")
        }
        let count = entry.shape.reduce(1, *)
        let values = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            data.withUnsafeBytes { raw in
                let bytes = UnsafeRawBufferPointer(rebasing: raw[entry.byteRange])
                Self.convert(bytes, dtype: entry.dtype, into: buffer)
            }
            initialized = count
        }
        return HostTensor(shape: entry.shape, values: values)
    }

    private static func convert(_ bytes: UnsafeRawBufferPointer, dtype: SafeTensorsDType, into out: UnsafeMutableBufferPointer<Float>) {
        switch dtype {
        case .f32:
            for i in out.indices {
                out[i] = Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
            }
        case .f64:
            for i in out.indices {
                out[i] = Float(Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
            }
        case .bf16:
            for i in out.indices {
                let bits = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                out[i] = Float(bitPattern: UInt32(bits) << 16)
            }
        case .f16:
            for i in out.indices {
                out[i] = floatFromHalf(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
            }
        default:
            break
        }
    }

    /// IEEE binary16 to binary32, exact (Float16 is not available on every platform Swift targets).
    static func floatFromHalf(_ half: UInt16) -> Float {
        let sign = UInt32(half & 0x8000) << 16
        let exponent = Int((half >> 10) & 0x1F)
        let mantissa = UInt32(half & 0x3FF)
        switch exponent {
        case 0:
            // Zero or subnormal: mantissa · 2^-24.
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        case 31:
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        default:
            return Float(bitPattern: sign | UInt32(exponent + 112) << 23 | (mantissa << 13))
        }
    }
}

/// The JSON header: tensor entries by name plus the optional `__metadata__` string map.
private struct SafeTensorsHeader: Decodable {
    struct RawEntry: Decodable {
        var dtype: String
        var shape: [Int]
        var dataOffsets: [Int]
        enum CodingKeys: String, CodingKey { case dtype, shape, dataOffsets = "data_offsets" }
    }

    struct Problem: Error { var message: String }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    var tensors: [String: RawEntry] = [:]
    var metadata: [String: String] = [:]

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        for key in container.allKeys {
            if key.stringValue == "__metadata__" {
                do {
                    metadata = try container.decode([String: String].self, forKey: key)
                } catch {
                    throw Problem(message: "__metadata__ must map strings to strings")
                }
            } else {
                do {
                    tensors[key.stringValue] = try container.decode(RawEntry.self, forKey: key)
                } catch {
                    throw Problem(message: "tensor \(key.stringValue) has a malformed header entry (needs dtype, shape and data_offsets of integers)")
                }
            }
        }
    }
}
