import Foundation

/// 64-bit FNV-1a, used to notice changed inputs and models and to assign files to shards.
///
/// It is not a cryptographic hash: it detects accidental change (a rewritten scene, a retrained
/// model), not tampering, which is all a batch manifest needs. Unlike Swift's `Hasher`, which is
/// seeded randomly per process, it gives the same value in every process and on every machine.
public struct FNV1aHash: Sendable {
    public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
    static let prime: UInt64 = 0x0000_0100_0000_01b3

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var h = value
        for byte in bytes {
            h ^= UInt64(byte)
            h &*= Self.prime
        }
        value = h
    }

    public mutating func update(_ text: String) {
        var bytes = Array(text.utf8)
        bytes.withUnsafeMutableBytes { update(UnsafeRawBufferPointer($0)) }
    }

    /// The value as 16 hex digits.
    public var hex: String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    public static func of(_ text: String) -> UInt64 {
        var hash = FNV1aHash()
        hash.update(text)
        return hash.value
    }

    /// Hashes a whole file, reading it 1 MiB at a time.
    public static func ofFile(_ path: String) throws -> FNV1aHash {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw PipelineError(path: path, reason: "cannot be read (\(String(cString: strerror(errno))))")
        }
        defer { close(fd) }
        var hash = FNV1aHash()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count = read(fd, buffer.baseAddress, buffer.count)
            if count < 0 {
                if errno == EINTR { continue }
                throw PipelineError(path: path, reason: "cannot be read (\(String(cString: strerror(errno))))")
            }
            if count == 0 { break }
            hash.update(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        }
        return hash
    }
}
