import Testing
@testable import UNet
@Test func smoke() { #expect(true) }
