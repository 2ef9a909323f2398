/// How one stored TIFF sample is laid out in a decoded strip or tile row, and how it becomes a
/// Float32. Rows arrive in native byte order: libtiff swaps them on decode.
enum TIFFSampleDecoder: Sendable, Equatable {
    /// 1, 2 or 4-bit integers packed most significant bit first, unpacked but not scaled.
    case packedUnsigned(bits: Int)
    case packedSigned(bits: Int)
    case uint8, int8, uint16, int16, uint32, int32, uint64, int64
    case float16, float32, float64

    /// The decoder for a sample format (1 unsigned, 2 signed, 3 float, 4 undefined) and bit depth,
    /// or nil when the combination is not supported.
    init?(sampleFormat: UInt16, bitsPerSample: Int) {
        switch (sampleFormat, bitsPerSample) {
        case (1, 1), (1, 2), (1, 4), (4, 1), (4, 2), (4, 4): self = .packedUnsigned(bits: bitsPerSample)
        case (2, 1), (2, 2), (2, 4): self = .packedSigned(bits: bitsPerSample)
        case (1, 8), (4, 8): self = .uint8
        case (2, 8): self = .int8
        case (1, 16), (4, 16): self = .uint16
        case (2, 16): self = .int16
        case (1, 32), (4, 32): self = .uint32
        case (2, 32): self = .int32
        case (1, 64), (4, 64): self = .uint64
        case (2, 64): self = .int64
        case (3, 16): self = .float16
        case (3, 32): self = .float32
        case (3, 64): self = .float64
        default: return nil
        }
    }

    /// The type `inspect` reports: sub-byte integers report their 8-bit container.
    var sampleType: SampleType {
        switch self {
        case .packedUnsigned, .uint8: .uint8
        case .packedSigned, .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .uint64: .uint64
        case .int64: .int64
        case .float16: .float16
        case .float32: .float32
        case .float64: .float64
        }
    }

    /// Converts `count` samples of one row to Float32: sample indices `first`, `first + stride`, …
    /// (counted in samples from the row's start) go to `output[0]`, `output[1]`, ….
    func decode(
        row: UnsafeRawPointer, first: Int, stride: Int, count: Int,
        into output: UnsafeMutablePointer<Float>
    ) {
        switch self {
        case .packedUnsigned(let bits):
            let mask = (1 << bits) - 1
            let bytes = row.assumingMemoryBound(to: UInt8.self)
            for i in 0..<count {
                let bit = (first + i * stride) * bits
                let shift = 8 - bits - (bit & 7)
                output[i] = Float((Int(bytes[bit >> 3]) >> shift) & mask)
            }
        case .packedSigned(let bits):
            let mask = (1 << bits) - 1
            let signBit = 1 << (bits - 1)
            let bytes = row.assumingMemoryBound(to: UInt8.self)
            for i in 0..<count {
                let bit = (first + i * stride) * bits
                let shift = 8 - bits - (bit & 7)
                let raw = (Int(bytes[bit >> 3]) >> shift) & mask
                output[i] = Float(raw & signBit != 0 ? raw - (mask + 1) : raw)
            }
        case .uint8: Self.copy(UInt8.self, row, first, stride, count, output) { Float($0) }
        case .int8: Self.copy(Int8.self, row, first, stride, count, output) { Float($0) }
        case .uint16: Self.copy(UInt16.self, row, first, stride, count, output) { Float($0) }
        case .int16: Self.copy(Int16.self, row, first, stride, count, output) { Float($0) }
        case .uint32: Self.copy(UInt32.self, row, first, stride, count, output) { Float($0) }
        case .int32: Self.copy(Int32.self, row, first, stride, count, output) { Float($0) }
        case .uint64: Self.copy(UInt64.self, row, first, stride, count, output) { Float($0) }
        case .int64: Self.copy(Int64.self, row, first, stride, count, output) { Float($0) }
        case .float16: Self.copy(UInt16.self, row, first, stride, count, output) { Self.halfToFloat($0) }
        case .float32: Self.copy(Float.self, row, first, stride, count, output) { $0 }
        case .float64: Self.copy(Double.self, row, first, stride, count, output) { Float($0) }
        }
    }

    /// As `decode`, to Float64: exact for every stored type but the 64-bit integers beyond 2^53
    /// (`inspect --stats` reports stored values; 32-bit integers and 64-bit floats do not fit a
    /// Float32).
    func decodeExactly(
        row: UnsafeRawPointer, first: Int, stride: Int, count: Int,
        into output: UnsafeMutablePointer<Double>
    ) {
        switch self {
        case .uint32: Self.copy(UInt32.self, row, first, stride, count, output) { Double($0) }
        case .int32: Self.copy(Int32.self, row, first, stride, count, output) { Double($0) }
        case .uint64: Self.copy(UInt64.self, row, first, stride, count, output) { Double($0) }
        case .int64: Self.copy(Int64.self, row, first, stride, count, output) { Double($0) }
        case .float64: Self.copy(Double.self, row, first, stride, count, output) { $0 }
        case .packedUnsigned, .packedSigned, .uint8, .int8, .uint16, .int16, .float16, .float32:
            // Exact in Float32 already.
            withUnsafeTemporaryAllocation(of: Float.self, capacity: count) { buffer in
                guard let floats = buffer.baseAddress else { return }
                decode(row: row, first: first, stride: stride, count: count, into: floats)
                for i in 0..<count { output[i] = Double(floats[i]) }
            }
        }
    }

    @inline(__always)
    private static func copy<T, Output>(
        _ type: T.Type, _ row: UnsafeRawPointer, _ first: Int, _ stride: Int, _ count: Int,
        _ output: UnsafeMutablePointer<Output>, _ convert: (T) -> Output
    ) {
        let size = MemoryLayout<T>.size
        for i in 0..<count {
            output[i] = convert(row.loadUnaligned(fromByteOffset: (first + i * stride) * size, as: T.self))
        }
    }

    /// IEEE 754 binary16 to binary32, by bits: `Float16` is not available on every platform Swift
    /// supports.
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int(h >> 10) & 0x1f
        let mantissa = UInt32(h & 0x3ff)
        if exponent == 0x1f {
            return Float(bitPattern: sign | 0x7f80_0000 | (mantissa << 13))
        }
        if exponent == 0 {
            // Zero or subnormal: mantissa · 2^-24 is exact in Float32.
            let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
            return sign != 0 ? -magnitude : magnitude
        }
        return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
    }
}
