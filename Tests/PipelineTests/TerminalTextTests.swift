import Testing
@testable import Pipeline

@Test func controlCharactersAreEscapedAndOtherTextIsKept() {
    #expect(TerminalText.line("plain name.tif") == "plain name.tif")
    #expect(TerminalText.line("Zürich 東京 🛰.tif") == "Zürich 東京 🛰.tif")
    #expect(TerminalText.line("a\nb\rc\td") == #"a\nb\rc\td"#)
    #expect(TerminalText.line("x\u{1B}[2Jy\u{7F}z\u{85}\u{0}") == #"x\u{1B}[2Jy\u{7F}z\u{85}\u{0}"#)
}

@Test func errorsListingProblemsGiveALineEachAndOthersOne() {
    let problems = DatasetProblems(problems: ["a.tif: no mask", "b\nc.tif: no mask"])
    #expect(TerminalText.lines(of: problems) == ["a.tif: no mask", #"b\nc.tif: no mask"#])
    #expect(TerminalText.lines(of: PipelineError(path: "x\ny.tif", reason: "broken")) == [#"x\ny.tif: broken"#])
}
