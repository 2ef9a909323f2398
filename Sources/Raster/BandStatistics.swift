/// Minimum, maximum and mean of one band's samples, NaN samples left out.
public struct BandStatistics: Sendable, Equatable, Codable {
    public var min: Double
    public var max: Double
    public var mean: Double
    /// Samples counted: all but the NaN ones.
    public var count: Int
}

/// Accumulates per-band statistics over windows streamed from a file, so no caller needs the
/// whole image. NaN samples are skipped; the mean is summed in Float64.
public struct BandStatisticsAccumulator: Sendable {
    public private(set) var minimums: [Double]
    public private(set) var maximums: [Double]
    private var sums: [Double]
    private var counts: [Int]

    public init(bands: Int) {
        minimums = [Double](repeating: .infinity, count: bands)
        maximums = [Double](repeating: -.infinity, count: bands)
        sums = [Double](repeating: 0, count: bands)
        counts = [Int](repeating: 0, count: bands)
    }

    public mutating func add(_ buffer: RasterBuffer) {
        accumulate(bands: buffer.bands, values: buffer.values)
    }

    /// Adds band-major samples, `values.count / bands` of each band (`TIFFReader.readWindowExactly`).
    public mutating func add(bands: Int, values: [Double]) {
        accumulate(bands: bands, values: values)
    }

    // Generic but private: specialised for each caller above, within this module.
    private mutating func accumulate<Sample: BinaryFloatingPoint>(bands: Int, values: [Sample]) {
        precondition(bands == sums.count, "band count differs from the accumulator's")
        let plane = values.count / max(bands, 1)
        values.withUnsafeBufferPointer { all in
            for band in 0..<bands {
                var lo = minimums[band], hi = maximums[band], sum = 0.0, n = 0
                for value in all[(band * plane)..<((band + 1) * plane)] where !value.isNaN {
                    let v = Double(value)
                    if v < lo { lo = v }
                    if v > hi { hi = v }
                    sum += v
                    n += 1
                }
                minimums[band] = lo
                maximums[band] = hi
                sums[band] += sum
                counts[band] += n
            }
        }
    }

    /// One entry per band; a band with no finite samples reports NaN for all three.
    public var statistics: [BandStatistics] {
        (0..<sums.count).map { band in
            counts[band] == 0
                ? BandStatistics(min: .nan, max: .nan, mean: .nan, count: 0)
                : BandStatistics(min: minimums[band], max: maximums[band],
                                 mean: sums[band] / Double(counts[band]), count: counts[band])
        }
    }
}
