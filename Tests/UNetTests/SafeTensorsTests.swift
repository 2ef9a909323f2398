import Foundation
import Testing
@testable import UNet

/// A fresh empty folder for one test.
func makeTemporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("segpipe-unet-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// The bytes of a safetensors file with a hand-written header (for hostile inputs).
func rawSafeTensors(header: String, data: [UInt8], declaredLength: UInt64? = nil) -> Data {
    var length = (declaredLength ?? UInt64(header.utf8.count)).littleEndian
    var bytes = Data(bytes: &length, count: 8)
    bytes.append(contentsOf: Array(header.utf8))
    bytes.append(contentsOf: data)
    return bytes
}

func fixtureURL(_ name: String) throws -> URL {
    try #require(Bundle.module.url(forResource: name, withExtension: "safetensors", subdirectory: "Fixtures"))
}

@Suite struct SafeTensorsTests {
    @Test func writeThenReadGivesTheSameTensorsInOrder() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("t.safetensors").path
        let tensors: [(name: String, tensor: HostTensor)] = [
            ("zeta", HostTensor(shape: [2, 3], values: [1, -2, 3.5, .infinity, -0.0, .leastNonzeroMagnitude])),
            ("alpha \"quoted\"\n", HostTensor(shape: [], values: [42])),
            ("empty", HostTensor(shape: [0, 4], values: [])),
            ("big", HostTensor(shape: [5, 7, 3], values: (0..<105).map { Float($0) * 0.37 - 11 })),
        ]
        try SafeTensorsWriter.write(tensors, metadata: ["segpipe": "{\"a\": \"b\\\\\"}", "other": "é✓"], toFile: path)

        let reader = try SafeTensorsReader(path: path)
        #expect(reader.names == tensors.map(\.name))
        #expect(reader.metadata == ["segpipe": "{\"a\": \"b\\\\\"}", "other": "é✓"])
        for (name, tensor) in tensors {
            let read = try reader.tensor(name)
            #expect(read.shape == tensor.shape)
            #expect(read.values.map(\.bitPattern) == tensor.values.map(\.bitPattern))
        }
        // The data starts 8-byte aligned, as the Python library writes it.
        let headerLength = try Data(contentsOf: URL(fileURLWithPath: path)).prefix(8)
            .withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        #expect(headerLength % 8 == 0)
        // No temporary file is left beside the result.
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["t.safetensors"])
    }

    /// A checkpoint rewrites the model every epoch; a `chmod` of it must survive that.
    @Test func rewritingKeepsTheFilesPermissions() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("m.safetensors").path
        let tensors = [(name: "w", tensor: HostTensor(shape: [1], values: [1]))]
        try SafeTensorsWriter.write(tensors, metadata: [:], toFile: path)
        chmod(path, 0o640)
        try SafeTensorsWriter.write(tensors, metadata: [:], toFile: path)
        var info = stat()
        #expect(stat(path, &info) == 0 && info.st_mode & 0o777 == 0o640)
    }

    @Test func readsTheFilesPythonWrites() throws {
        let reader = try SafeTensorsReader(path: try fixtureURL("keras-transpose").path)
        #expect(reader.entries["enc1.conv1.kernel"]?.shape == [3, 3, 4, 4])
        #expect(reader.entries["dec1.up.kernel"]?.shape == [2, 2, 8, 16])
        #expect(reader.entries["input"]?.shape == [2, 32, 32, 4])
        #expect(reader.metadata["segpipe"]?.contains("\"segpipe-unet\"") == true)
        let loss = try reader.tensor("loss")
        #expect(loss.shape == [1] && loss.values[0] > 0.1 && loss.values[0] < 5)
    }

    @Test func convertsHalfBFloatAndDoubleToFloat() throws {
        // F16: 1.0, -2.5, smallest subnormal, infinity. BF16: 1.0, -3.0. F64: 0.1.
        let f16: [UInt16] = [0x3C00, 0xC100, 0x0001, 0x7C00]
        let bf16: [UInt16] = [0x3F80, 0xC040]
        var bytes: [UInt8] = []
        for v in f16 + bf16 { bytes += [UInt8(v & 0xFF), UInt8(v >> 8)] }
        withUnsafeBytes(of: (0.1 as Double).bitPattern.littleEndian) { bytes += $0 }
        let header = #"{"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]},"d":{"dtype":"F64","shape":[1],"data_offsets":[12,20]}}"#
        let reader = try SafeTensorsReader(data: rawSafeTensors(header: header, data: bytes), path: "mixed")
        #expect(try reader.tensor("h").values == [1, -2.5, 0x1p-24, .infinity])
        #expect(try reader.tensor("b").values == [1, -3])
        #expect(try reader.tensor("d").values == [Float(0.1)])
        #expect(reader.names == ["h", "b", "d"])
    }

    /// Each hostile file must be refused with a one-line message naming the file and, where one
    /// is at fault, the tensor.
    @Test(arguments: [
        (#"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#, 12, "tensor w ends at byte 16"),
        (#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}"#, 16, "tensor w has 16 bytes of data but F32 [3] needs 12"),
        (#"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, 4, "tensor w has a negative dimension"),
        (#"{"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}}"#, 4, "tensor w shape"),
        (#"{"w":{"dtype":"F32","shape":[2305843009213693952],"data_offsets":[0,4]}}"#, 4, "tensor w shape"),
        (#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, 4, "tensor w has invalid data_offsets"),
        (#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"v":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}"#, 8, "overlaps"),
        (#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, 8, "gap of 4 bytes before tensor w"),
        (#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, 8, "4 bytes after the last tensor"),
        (#"{"w":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}}"#, 4, "tensor w has unknown dtype Q4"),
        (#"{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, 4, "tensor w has a malformed header entry"),
        (#"{"w":{"dtype":"F32","shape":[1]}}"#, 4, "tensor w has a malformed header entry"),
        (#"{"__metadata__":{"a":1}}"#, 0, "__metadata__ must map strings to strings"),
        (#"{"w": "#, 0, "header is not valid safetensors JSON"),
        (#"[1, 2]"#, 0, "header is not valid safetensors JSON"),
    ] as [(String, Int, String)])
    func hostileHeadersAreRefused(header: String, dataBytes: Int, expected: String) throws {
        let data = rawSafeTensors(header: header, data: [UInt8](repeating: 0, count: dataBytes))
        let error = try #require(throws: ModelFileError.self) { try SafeTensorsReader(data: data, path: "bad.safetensors") }
        #expect(error.description.hasPrefix("bad.safetensors: "))
        #expect(error.description.contains(expected), "\(error)")
        #expect(!error.description.contains("\n"))
    }

    @Test func impossibleHeaderLengthsAreRefused() throws {
        let tooShort = try #require(throws: ModelFileError.self) { try SafeTensorsReader(data: Data([1, 0, 0]), path: "f") }
        #expect(tooShort.reason.contains("shorter than the 8-byte header length"))

        let beyondFile = rawSafeTensors(header: "{}", data: [], declaredLength: 1000)
        let truncated = try #require(throws: ModelFileError.self) { try SafeTensorsReader(data: beyondFile, path: "f") }
        #expect(truncated.reason.contains("truncated: header length 1000"))

        let huge = rawSafeTensors(header: "{}", data: [], declaredLength: UInt64.max)
        let capped = try #require(throws: ModelFileError.self) { try SafeTensorsReader(data: huge, path: "f") }
        #expect(capped.reason.contains("exceeds the limit"))
    }

    @Test func aTruncatedFileNamesTheTensorThatDoesNotFit() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("cut.safetensors").path
        try SafeTensorsWriter.write([("first", HostTensor(shape: [4], values: [1, 2, 3, 4])),
                                     ("second", HostTensor(shape: [3], values: [5, 6, 7]))], toFile: path)
        let whole = try Data(contentsOf: URL(fileURLWithPath: path))
        try whole.prefix(whole.count - 5).write(to: URL(fileURLWithPath: path))
        let error = try #require(throws: ModelFileError.self) { try SafeTensorsReader(path: path) }
        #expect(error.description == "\(path): truncated: tensor second ends at byte 28 of the data but the data has 23 bytes")
    }

    @Test func missingFilesAndFoldersAreRefusedAndLinksFollowed() throws {
        let error = try #require(throws: ModelFileError.self) { try SafeTensorsReader(path: "/nonexistent/m.safetensors") }
        #expect(error.path == "/nonexistent/m.safetensors")
        #expect(error.reason == "no such file")

        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let notAFile = try #require(throws: ModelFileError.self) { try SafeTensorsReader(path: folder.path) }
        #expect(notAFile.reason == "not a regular file")

        // A symbolic link to a model file is read like the file.
        let file = folder.appendingPathComponent("m.safetensors"), link = folder.appendingPathComponent("link.safetensors")
        try SafeTensorsWriter.write([("w", HostTensor(shape: [1], values: [2]))], toFile: file.path)
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: file)
        #expect(try SafeTensorsReader(path: link.path).tensor("w").values == [2])
    }

    @Test func integerTensorsAreListedButNotConverted() throws {
        let header = #"{"i":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}"#
        let reader = try SafeTensorsReader(data: rawSafeTensors(header: header, data: [1, 0, 0, 0]), path: "f")
        #expect(reader.entries["i"]?.dtype == .i32)
        let error = try #require(throws: ModelFileError.self) { try reader.tensor("i") }
        #expect(error.reason.contains("tensor i has dtype I32"))
    }

    @Test func writingRefusesDuplicateNames() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let tensor = HostTensor(shape: [1], values: [0])
        let path = folder.appendingPathComponent("d.safetensors").path
        let error = try #require(throws: ModelFileError.self) {
            try SafeTensorsWriter.write([("a", tensor), ("a", tensor)], toFile: path)
        }
        #expect(error.reason.contains("tensor a is listed twice"))
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    /// A deferred tensor that produces the wrong number of values, or fails, leaves neither a file
    /// whose header lies nor a temporary file.
    @Test func deferredTensorsThatDoNotFitTheirShapeAreRefused() throws {
        struct Unreadable: Error, CustomStringConvertible { var description: String { "the device is gone" } }
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("d.safetensors").path
        let first = SafeTensorsWriter.DeferredTensor(name: "a", shape: [2]) { [1, 2] }
        let short = try #require(throws: ModelFileError.self) {
            try SafeTensorsWriter.write(deferred: [first, .init(name: "b", shape: [2, 3]) { [1, 2, 3] }], toFile: path)
        }
        #expect(short.reason == "tensor b has 3 values for shape [2, 3] (6)")
        let failing = try #require(throws: ModelFileError.self) {
            try SafeTensorsWriter.write(deferred: [first, .init(name: "c", shape: [1]) { throw Unreadable() }], toFile: path)
        }
        #expect(failing.reason == "cannot read tensor c to write it: the device is gone")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
    }
}
