import CPanelProduct
import Testing
@testable import UNet

/// `PanelProduct`'s AVX2 kernel against Float64 products: rows that do not fill its 6-row tile,
/// depths past its 256-row slices of B (whose partial sums it adds up in C), an 8-wide last
/// panel, and the batch split into parts at panels that are not a product's first.
@Suite(.enabled(if: PanelProduct.supported, "needs AVX2 and FMA"))
struct PanelProductTests {
    @Test(arguments: [
        (13, 7, 32),      // two full tiles of rows and one of a single row
        (6, 256, 16),     // exactly one slice of B
        (11, 300, 24),    // a second, partial slice; 16 + 8 columns
        (20, 600, 40),    // three slices, two panels of 16 and one of 8
        (1, 1, 8),
    ])
    func matchesTheDoublePrecisionProduct(rows: Int, depth: Int, columns: Int) {
        let count = 3
        let product = PanelProduct(count: count, depth: depth, columns: columns)
        let a = randomValues(count * rows * depth, seed: 71), b = randomValues(count * depth * columns, seed: 72)
        // B written into panels through offset(row:column:), the way the kernel transform writes it.
        var panels = [Float](repeating: .nan, count: count * product.floatsPerMatrix)
        for p in 0..<count {
            for k in 0..<depth {
                for n in 0..<columns { panels[p * product.floatsPerMatrix + product.offset(row: k, column: n)] = Float(b[(p * depth + k) * columns + n]) }
            }
        }
        #expect(!panels.contains { $0.isNaN }, "offset(row:column:) left part of the panels unwritten")
        var expected = [Double](repeating: 0, count: count * rows * columns)
        for p in 0..<count {
            for i in 0..<rows {
                for n in 0..<columns {
                    var sum = 0.0
                    for k in 0..<depth { sum += a[(p * rows + i) * depth + k] * b[(p * depth + k) * columns + n] }
                    expected[(p * rows + i) * columns + n] = sum
                }
            }
        }
        var aFloats = a.map(Float.init)
        for parts in [1, 2, 5] {
            var c = [Float](repeating: .nan, count: count * rows * columns)
            aFloats.withUnsafeMutableBytes { aBytes in
                panels.withUnsafeMutableBytes { bBytes in
                    c.withUnsafeMutableBytes { cBytes in
                        guard let a = aBytes.baseAddress, let b = bBytes.baseAddress, let c = cBytes.baseAddress else { return }
                        for part in 0..<parts {
                            product.multiply(rows: rows, a: a, aStride: rows * depth, b: b, c: c, cStride: rows * columns, part: part, of: parts)
                        }
                    }
                }
            }
            #expect(!c.contains { $0.isNaN }, "\(parts) parts: part of C left unwritten")
            let error = relativeError(c.map(Double.init), expected)
            #expect(error < 1e-5, "\(parts) parts: relative error \(error)")
        }
    }

    @Test(arguments: [(7, 32), (300, 24), (3, 8)])
    func elementAtAnOffsetInvertsTheOffsetOfAnElement(depth: Int, columns: Int) {
        let product = PanelProduct(count: 1, depth: depth, columns: columns)
        for row in 0..<depth {
            for column in 0..<columns {
                let element = product.element(at: product.offset(row: row, column: column))
                #expect(element.row == row && element.column == column, "(\(row), \(column)) came back as \(element)")
            }
        }
    }

    /// The 8×8 transpose through which the input-gradient passes read the kernel's master: a
    /// block inside a wider matrix, starting mid-row, its rows 24 floats apart.
    @Test func transposesAnEightByEightBlockOfAWiderMatrix() {
        let stride = 24
        let m = (0..<(8 * stride + 5)).map { Float($0) }
        var out = [Float](repeating: .nan, count: 64)
        m.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { destination in
                guard let from = source.baseAddress, let to = destination.baseAddress else { return }
                transpose_block8(from + 5, stride, to)
            }
        }
        for k in 0..<8 {
            for j in 0..<8 {
                #expect(out[8 * k + j] == m[5 + j * stride + k], "element (\(k), \(j))")
            }
        }
    }
}
