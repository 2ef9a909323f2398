import Foundation
import Testing
@testable import Pipeline

/// A float band that holds only +infinity reads as infinity in the table (JSON, which has no
/// infinity, writes null).
@Test func infiniteBandStatisticsReadAsInfinity() throws {
    let folder = try TemporaryDirectory()
    try writeScene(folder.file("inf.tif"), width: 4, height: 4, bands: 1) { _, _, _ in .infinity }
    let inspection = Inspector.inspect(path: folder.file("inf.tif"), statistics: true)
    #expect(inspection.succeeded)
    let rows = InspectionTable().rows(for: inspection)
    #expect(rows.last == "  band 1\tmin inf\tmax inf\tmean inf")
    #expect(inspection.json.serialized.contains("\"stats\": [{\"min\": null, \"max\": null, \"mean\": null}]"))
}
