/// The transforms of Winograd's minimal filtering algorithm F(4×4, 3×3) (Lavin and Gray, 2016,
/// interpolation points 0, ±1, ±2, ∞): a 4×4 block of a 3×3 "same" convolution's output is
/// Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A for the 6×6 input patch d around it, so 36 multiplications per input
/// channel replace 144. The element-wise products summed over input channels become 36
/// independent matrix products, which oneDNN's GEMM runs near the cores' peak.
///
/// Activations are in oneDNN's nChw8c or nChw16c layout, so each 8 channels of a pixel are one
/// `SIMD8<Float>`.
enum WinogradTransform {
    /// Output pixels per tile side.
    static let outputSide = 4
    /// Input pixels per tile side (output side + kernel side − 1).
    static let inputSide = 6
    /// Products per tile: one matrix product for each of the 6×6 transformed positions.
    static let positions = 36

    /// G g Gᵀ for one 3×3 kernel (row-major, g[3·row + column]) into 36 values, in Float64.
    static func kernel(_ g: [Double]) -> [Double] {
        withUnsafeTemporaryAllocation(of: SIMD2<Double>.self, capacity: 9 + 36 + 18) { scratch -> [Double] in
            guard let taps = scratch.baseAddress else { return [] }
            for tap in 0..<9 { taps[tap] = SIMD2(repeating: g[tap]) }
            kernel(taps, into: taps + 9, scratch: taps + 45)
            return (0..<36).map { taps[9 + $0][0] }
        }
    }

    /// G g Gᵀ for as many kernels at once as `V` has lanes: 9 taps in (row-major), 36 values
    /// out, 18 values of scratch; nothing allocated.
    @inline(__always)
    static func kernel<V: SIMD>(_ g: UnsafePointer<V>, into result: UnsafeMutablePointer<V>, scratch left: UnsafeMutablePointer<V>)
        where V.Scalar: BinaryFloatingPoint {
        // Multiplications by reciprocals: vector divisions would dominate the transform.
        let quarter: V.Scalar = 1 / 4, sixth: V.Scalar = 1 / 6, twelfth: V.Scalar = 1 / 12, twentyFourth: V.Scalar = 1 / 24
        // (G g): each column of g through G, then each row of that through G again.
        for j in 0..<3 {
            let (a, b, c) = (g[j], g[3 + j], g[6 + j])
            left[j] = a * quarter
            left[3 + j] = -(a + b + c) * sixth
            left[6 + j] = -(a - b + c) * sixth
            left[9 + j] = a * twentyFourth + b * twelfth + c * sixth
            left[12 + j] = a * twentyFourth - b * twelfth + c * sixth
            left[15 + j] = c
        }
        for i in 0..<6 {
            let (a, b, c) = (left[i * 3], left[i * 3 + 1], left[i * 3 + 2])
            result[i * 6] = a * quarter
            result[i * 6 + 1] = -(a + b + c) * sixth
            result[i * 6 + 2] = -(a - b + c) * sixth
            result[i * 6 + 3] = a * twentyFourth + b * twelfth + c * sixth
            result[i * 6 + 4] = a * twentyFourth - b * twelfth + c * sixth
            result[i * 6 + 5] = c
        }
    }

    /// Bᵀ applied to six values (one column or row of a 6×6 patch).
    @inline(__always)
    static func inputRow(_ d0: SIMD8<Float>, _ d1: SIMD8<Float>, _ d2: SIMD8<Float>, _ d3: SIMD8<Float>,
                         _ d4: SIMD8<Float>, _ d5: SIMD8<Float>)
        -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        let four: SIMD8<Float> = SIMD8(repeating: 4), five: SIMD8<Float> = SIMD8(repeating: 5), two: SIMD8<Float> = SIMD8(repeating: 2)
        let a = d4 - d2, b = d3 - d1
        let c = d4 - four * d2, e = d3 - four * d1
        return (four * d0 - five * d2 + d4,
                c + e,
                c - e,
                a + two * b,
                a - two * b,
                four * d1 - five * d3 + d5)
    }

    /// Aᵀ applied to six values: four outputs.
    @inline(__always)
    static func outputRow(_ m0: SIMD8<Float>, _ m1: SIMD8<Float>, _ m2: SIMD8<Float>, _ m3: SIMD8<Float>,
                          _ m4: SIMD8<Float>, _ m5: SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        let two: SIMD8<Float> = SIMD8(repeating: 2), four: SIMD8<Float> = SIMD8(repeating: 4), eight: SIMD8<Float> = SIMD8(repeating: 8)
        let sum12 = m1 + m2, difference12 = m1 - m2
        let sum34 = m3 + m4, difference34 = m3 - m4
        return (m0 + sum12 + sum34,
                difference12 + two * difference34,
                sum12 + four * sum34,
                difference12 + eight * difference34 + m5)
    }

    /// A applied to four values (one column or row of a 4×4 output-gradient block): the six
    /// values whose products with Bᵀ d B, summed over tiles, give the kernel gradient in the
    /// transformed domain. (Y = Aᵀ[U ⊙ V]A is linear in U, so ∂L/∂U = (A ∂L/∂Y Aᵀ) ⊙ V.)
    @inline(__always)
    static func outputGradientRow(_ y0: SIMD8<Float>, _ y1: SIMD8<Float>, _ y2: SIMD8<Float>, _ y3: SIMD8<Float>)
        -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        let two: SIMD8<Float> = SIMD8(repeating: 2), four: SIMD8<Float> = SIMD8(repeating: 4), eight: SIMD8<Float> = SIMD8(repeating: 8)
        let even = y0 + y2, odd = y1 + y3
        let evenWeighted = y0 + four * y2, oddWeighted = two * y1 + eight * y3
        return (y0, even + odd, even - odd, evenWeighted + oddWeighted, evenWeighted - oddWeighted, y3)
    }

    /// Gᵀ applied to six values: three, the adjoint of the kernel transform's G (so that the
    /// kernel gradient is Gᵀ (∂L/∂U) G).
    @inline(__always)
    static func kernelGradientRow<V: SIMD>(_ u0: V, _ u1: V, _ u2: V, _ u3: V, _ u4: V, _ u5: V) -> (V, V, V)
        where V.Scalar: BinaryFloatingPoint {
        let quarter: V.Scalar = 1 / 4, sixth: V.Scalar = 1 / 6, twelfth: V.Scalar = 1 / 12, twentyFourth: V.Scalar = 1 / 24
        let sum12 = u1 + u2, sum34 = u3 + u4
        return (u0 * quarter - sum12 * sixth + sum34 * twentyFourth,
                (u2 - u1) * sixth + (u3 - u4) * twelfth,
                (sum34 - sum12) * sixth + u5)
    }
}
