import Testing
@testable import Raster
@Test func smoke() { #expect(true) }
