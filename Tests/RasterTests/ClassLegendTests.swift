import Foundation
import Testing
@testable import Raster

@Suite struct ClassLegendTests {
    @Test func defaultLegendIsUNetMds() {
        let legend = ClassLegend.default
        #expect(legend.classes.map(\.id) == [0, 1, 2, 3, 4, 5])
        #expect(legend.classes.map(\.name) == ["background", "buildings", "roads & tracks", "trees", "crops", "water"])
        #expect(legend.entry(id: 2)?.color == ClassLegend.Color(223, 194, 125))
        #expect(legend.id(for: ClassLegend.Color(255, 255, 255)) == 0)
        #expect(legend.id(for: ClassLegend.Color(116, 173, 209)) == 5)
        #expect(legend.id(for: ClassLegend.Color(116, 173, 208)) == nil)
        #expect(legend.entry(id: 255) == nil)
        #expect(!legend.contains(id: ClassLegend.ignoreValue))
        #expect(legend.maximumID == 5)
    }

    @Test(arguments: [1, 3, 7, 20, 60, 254])
    func genericLegendsHaveDistinctColours(classCount: Int) {
        let legend = ClassLegend.generic(classCount: classCount)
        #expect(legend.classes.count == classCount + 1)
        #expect(legend.classes.first?.name == "background")
        #expect(legend.classes.last?.name == "class\(classCount)")
        #expect(Set(legend.classes.map(\.color)).count == classCount + 1)
        #expect(legend.classes.allSatisfy { legend.id(for: $0.color) == $0.id })
        #expect((try? ClassLegend(classes: legend.classes)) == legend)
    }

    @Test func genericOfFiveIsTheDefault() {
        #expect(ClassLegend.generic(classCount: 5) == .default)
    }

    @Test(arguments: ["legend.json", "legend.yml", "legend.yaml"])
    func fileRoundTrip(name: String) throws {
        let dir = try PNGTestDirectory()
        let path = dir.file(name)
        let legend = try ClassLegend(classes: [
            .init(id: 0, name: "background", color: .init(0, 0, 0)),
            .init(id: 3, name: "quoted \"name\": with # and \\ and ü", color: .init(1, 2, 3)),
            .init(id: 254, name: "last", color: .init(255, 255, 254)),
        ])
        try legend.save(path: path)
        #expect(try ClassLegend.load(path: path) == legend)
        try ClassLegend.default.save(path: path)
        #expect(try ClassLegend.load(path: path) == .default)
    }

    @Test func handWrittenYAML() throws {
        let dir = try PNGTestDirectory()
        let path = dir.file("mine.yaml")
        try "classes:\n  - {id: 1, name: roof, color: [200, 0, 0]}\n  - id: 0\n    name: ground\n    color: [0, 0, 0]\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let legend = try ClassLegend.load(path: path)
        #expect(legend.classes.map(\.name) == ["ground", "roof"])
        #expect(legend.id(for: .init(200, 0, 0)) == 1)
    }

    @Test(arguments: [
        ("dup-id.json", #"{"classes": [{"id": 0, "name": "a", "color": [0,0,0]}, {"id": 0, "name": "b", "color": [1,1,1]}]}"#,
         "id 0 is used by two classes"),
        ("dup-color.yml", "classes:\n  - {id: 0, name: a, color: [9, 9, 9]}\n  - {id: 1, name: b, color: [9, 9, 9]}\n",
         "colour (9, 9, 9) is used by classes 0 and 1"),
        ("ignore.json", #"{"classes": [{"id": 0, "name": "a", "color": [0,0,0]}, {"id": 255, "name": "none", "color": [1,1,1]}]}"#,
         "class \"none\" uses id 255, which is reserved for \"no label\""),
        ("missing.json", #"{"classes": [{"id": 0, "color": [0,0,0]}]}"#, "classes[0]: missing field \"name\""),
        ("missing.yaml", "classes:\n  - id: 0\n    name: a\n", "classes[0]: missing field \"color\""),
        ("no-classes.json", #"{"colours": []}"#, "missing field \"classes\""),
        ("no-background.json", #"{"classes": [{"id": 1, "name": "a", "color": [0,0,0]}]}"#, "no background class with id 0"),
        ("range.json", #"{"classes": [{"id": 300, "name": "a", "color": [0,0,0]}]}"#, "classes[0]: id 300 is outside 0–254"),
        ("color.json", #"{"classes": [{"id": 0, "name": "a", "color": [0,0]}]}"#, "classes[0]: color must be three integers"),
        ("syntax.json", #"{"classes": [ "#, "invalid legend"),
        ("legend.txt", "classes: []", "must end in .json, .yml or .yaml"),
    ])
    func validationErrorsNameFileAndProblem(name: String, text: String, problem: String) throws {
        let dir = try PNGTestDirectory()
        let path = dir.file(name)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let error = #expect(throws: RasterError.self) { try ClassLegend.load(path: path) }
        #expect(error?.path == path)
        #expect(error?.reason.contains(problem) == true, "\(String(describing: error))")
        #expect(error?.description.contains("\n") == false)
    }

    @Test func missingFileIsAnError() {
        let error = #expect(throws: RasterError.self) { try ClassLegend.load(path: "/nonexistent/legend.json") }
        #expect(error?.path == "/nonexistent/legend.json")
    }
}
