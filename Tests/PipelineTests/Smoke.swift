import Testing
@testable import Pipeline
@Test func smoke() { #expect(true) }
