import Foundation
import Testing
@testable import Raster

/// Files written by another encoder, so reading is not only checked against our own writer.
/// From PngSuite (© Willem van Schaik; "Permission to use, copy, modify and distribute these
/// images for any purpose and without fee is hereby granted"). Expected statistics are those of
/// the project's reference decoders (pypng and libpng).
@Suite struct PNGSuiteTests {
    struct Fixture: Sendable, CustomStringConvertible {
        var name: String
        var base64: String
        var width: Int
        var height: Int
        var bitsPerSample: Int
        var isPalette: Bool
        var minimum: [Float]
        var maximum: [Float]
        var mean: [Double]
        var description: String { name }
    }

    static let fixtures = [
        // 16-bit RGB.
        Fixture(name: "basn2c16",
                base64: "iVBORw0KGgoAAAANSUhEUgAAACAAAAAgEAIAAACsiDHgAAAABGdBTUEAAYagMeiWXwAAAOVJREFUeJzVlsEKgzAQRKfgQX/Lfrf9rfaWHgYDkoYmZpPMehiGReQ91qCPEEIAPi/gmu9kcnN+GD0nM1/O4vNad7cC6850KHCiM5fz7fJwXdEBYPOygV/o7PICeXSmsMA/dKbkGShD51xsAzXo7DIC9ehMAYG76MypZ6ANnfNJG7BAZx8uYIfOHChgjR4F+MfuDx0AtmfnDfREZ+8m0B+9m8Ao9Chg9x0Yi877jTYwA529WWAeerPAbPQoUH8GNNA5r9yAEjp7sYAeerGAKnoUyJ8BbXTOMxvwgM6eCPhBTwS8oTO/5kL+Xge7xOwAAAAASUVORK5CYII=",
                width: 32, height: 32, bitsPerSample: 16, isPalette: false,
                minimum: [0, 0, 0], maximum: [65535, 65535, 65535], mean: [32767.5, 32767.5, 11263.7890625]),
        // 2-bit gray: stored values 0–3, not scaled.
        Fixture(name: "basn0g02",
                base64: "iVBORw0KGgoAAAANSUhEUgAAACAAAAAgAgAAAAAcoT2JAAAABGdBTUEAAYagMeiWXwAAAB9JREFUeJxjYAhd9R+M8TCIUMIAU4aPATMJH2OQuQcAvUl/gYsJiakAAAAASUVORK5CYII=",
                width: 32, height: 32, bitsPerSample: 2, isPalette: false,
                minimum: [0], maximum: [3], mean: [1.5]),
        // Interlaced 2-bit palette, 9×9.
        Fixture(name: "s09i3p02",
                base64: "iVBORw0KGgoAAAANSUhEUgAAAAkAAAAJAgMAAAHq+N4VAAAABGdBTUEAAYagMeiWXwAAAANzQklUBAQEd/i1owAAAAxQTFRFAP8AAHf//wD//3cA/1YAZAAAACNJREFUeJxjYEACC4BYC4wYGF4zXAdiBgb7/wwMltEQDGQDAHX/B0YWjJcDAAAAAElFTkSuQmCC",
                width: 9, height: 9, bitsPerSample: 2, isPalette: true,
                minimum: [0], maximum: [3], mean: [1.382716049382716]),
    ]

    @Test(arguments: fixtures)
    func matchesReferenceDecoders(_ fixture: Fixture) throws {
        let dir = try PNGTestDirectory()
        let path = dir.file(fixture.name + ".png")
        let data = try #require(Data(base64Encoded: fixture.base64))
        try data.write(to: URL(fileURLWithPath: path))
        let reader = try PNGReader(path: path)
        #expect(reader.info.width == fixture.width && reader.info.height == fixture.height)
        #expect(reader.info.bands == fixture.minimum.count)
        #expect(reader.info.bitsPerSample == fixture.bitsPerSample)
        #expect(reader.info.isPalette == fixture.isPalette)
        var statistics = BandStatisticsAccumulator(bands: reader.info.bands)
        while reader.nextRow < reader.info.height {
            statistics.add(try reader.readRows(min(5, reader.info.height - reader.nextRow)))
        }
        for (band, stats) in statistics.statistics.enumerated() {
            #expect(stats.min == Double(fixture.minimum[band]))
            #expect(stats.max == Double(fixture.maximum[band]))
            #expect(abs(stats.mean - fixture.mean[band]) < 1e-9)
        }
    }
}
