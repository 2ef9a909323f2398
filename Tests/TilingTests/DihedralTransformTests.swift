import Raster
import Testing
@testable import Tiling

/// A buffer whose every sample is distinct, so any misplaced sample shows.
func distinctBuffer(bands: Int, width: Int, height: Int) -> RasterBuffer {
    RasterBuffer(bands: bands, width: width, height: height,
                 values: (0..<(bands * width * height)).map { Float($0) })
}

@Test(arguments: DihedralTransform.allCases)
func transformThenInverseIsIdentity(_ transform: DihedralTransform) {
    let buffer = distinctBuffer(bands: 3, width: 5, height: 4)
    let moved = transform.apply(to: buffer)
    #expect(moved.width == (transform.swapsAxes ? 4 : 5))
    #expect(transform.inverse.apply(to: moved) == buffer)
    #expect(transform.apply(to: transform.inverse.apply(to: buffer)) == buffer)
}

@Test func theEightTransformsAreDistinct() {
    let buffer = distinctBuffer(bands: 1, width: 3, height: 3)
    let results = Set(DihedralTransform.allCases.map { $0.apply(to: buffer).values })
    #expect(results.count == 8)
}

@Test func rotate90IsCounterClockwise() {
    // 1 2
    // 3 4  → rotated 90° counter-clockwise: 2 4 / 1 3
    let buffer = RasterBuffer(bands: 1, width: 2, height: 2, values: [1, 2, 3, 4])
    #expect(DihedralTransform.rotate90.apply(to: buffer).values == [2, 4, 1, 3])
    #expect(DihedralTransform.transpose.apply(to: buffer).values == [1, 3, 2, 4])
    #expect(DihedralTransform.flipHorizontal.apply(to: buffer).values == [2, 1, 4, 3])
}

@Test func planesMoveLikeBuffers() {
    let buffer = distinctBuffer(bands: 1, width: 4, height: 3)
    let plane = buffer.values.map { Int($0) }
    for transform in DihedralTransform.allCases {
        let moved = transform.apply(toPlane: plane, height: 3, width: 4)
        #expect(moved.map { Float($0) } == transform.apply(to: buffer).values)
    }
}

@Test(arguments: DihedralTransform.allCases)
func destinationIndicesAgreeWithDestination(_ transform: DihedralTransform) {
    let side = 5
    let indices = transform.destinationIndices(side: side)
    for r in 0..<side {
        for c in 0..<side {
            let d = transform.destination(row: r, column: c, height: side, width: side)
            #expect(indices[r * side + c] == d.row * side + d.column)
        }
    }
}
