import CDNNL
import CPanelProduct

/// Batched matrix products C[p] = A[p]·B[p] with each B stored in panels of 16 columns, by an
/// AVX2 kernel of our own (`panel_product`): how a Winograd pass multiplies its 36 transformed
/// positions on CPUs without AVX-512.
///
/// The kernel transform writes the transformed kernels (B) straight into panels, so no product
/// packs them; A (the transformed input) is read as the input transform wrote it, and only the
/// chunk's tiles are multiplied. oneDNN 2.6's batched matmul packs B on every call and always
/// multiplies a whole chunk. Timed inside predict and training steps, the products took
/// 0.69–0.81 of oneDNN's time in all, 0.5–0.8 for the 10×10 level's 37–75 MB kernels
/// (`docs/performance.md`).
struct PanelProduct: Sendable {
    /// Products in the batch.
    let count: Int
    /// A's columns and B's rows.
    let depth: Int
    /// B's and C's columns: a multiple of 8.
    let columns: Int

    /// Whether the kernel runs here (AVX2 and FMA) and should: on AVX-512 CPUs oneDNN's matmul
    /// has twice the vector width and stays.
    static func preferred() -> Bool {
        let avx512 = dnnl_cpu_isa_avx512_core.rawValue
        return supported && dnnl_get_effective_cpu_isa().rawValue & avx512 != avx512
    }

    /// Whether this CPU can run the kernel at all: it has AVX2 and FMA.
    static let supported = panel_product_supported() != 0

    var panels: Int { (columns + 15) / 16 }

    /// Floats in one product's B (and in the whole batch, `count` times this).
    var floatsPerMatrix: Int { depth * columns }

    /// Where element (`row`, `column`) of a B lies, in floats from the start of its matrix.
    @inline(__always)
    func offset(row: Int, column: Int) -> Int {
        let panel = column &>> 4
        let width = min(16, columns &- panel &* 16)
        return panel &* 16 &* depth &+ row &* width &+ (column & 15)
    }

    /// The (row, column) of B stored `offset` floats from the start of its matrix: the inverse
    /// of `offset(row:column:)`.
    @inline(__always)
    func element(at offset: Int) -> (row: Int, column: Int) {
        let panel = offset / (16 &* depth)
        let width = min(16, columns &- panel &* 16), within = offset &- panel &* 16 &* depth
        return (within / width, panel &* 16 &+ within % width)
    }

    /// Computes part `part` of `parts` of the batch, each part a run of whole panels: the first
    /// `rows` rows of every C[p] = A[p]·B[p]. A's rows are `depth` floats apart and C's `columns`;
    /// the batch's A, B and C matrices are `aStride`, `depth·columns` and `cStride` floats apart.
    func multiply(rows: Int, a: UnsafeMutableRawPointer, aStride: Int, b: UnsafeMutableRawPointer, c: UnsafeMutableRawPointer,
                  cStride: Int, part: Int, of parts: Int) {
        let a = UnsafePointer(a.assumingMemoryBound(to: Float.self)), b = UnsafePointer(b.assumingMemoryBound(to: Float.self))
        let c = c.assumingMemoryBound(to: Float.self)
        PanelProduct.forEachRun(matrices: count, groups: panels, part: part, of: parts) { product, run in
            panel_product(rows, depth, columns, a + product * aStride, depth, b + product * floatsPerMatrix,
                          c + product * cStride, columns, run.lowerBound, run.upperBound)
        }
    }

    /// Part `part` of `parts` of a batch of `matrices` products, each cut into `groups` groups of
    /// columns: consecutive (matrix, group) pairs, split as evenly as whole groups allow and
    /// handed over as runs of groups of one matrix.
    static func forEachRun(matrices: Int, groups: Int, part: Int, of parts: Int, _ body: (_ matrix: Int, _ groups: Range<Int>) -> Void) {
        let work = (0..<(matrices * groups)).split(part, of: parts)
        var item = work.lowerBound
        while item < work.upperBound {
            let matrix = item / groups, first = item % groups
            let end = min(groups, first + work.upperBound - item)
            body(matrix, first..<end)
            item += end - first
        }
    }
}
