import CTIFF
import Foundation
import Synchronization
import Testing
@testable import Raster

/// The bytes of a classic little-endian TIFF, with just enough IFD parsing to forge entries.
private struct TIFFBytes {
    var data: [UInt8]

    init(path: String) throws { data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

    func u16(_ at: Int) -> Int { Int(data[at]) | Int(data[at + 1]) << 8 }
    func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
    mutating func set16(_ at: Int, _ v: Int) { data[at] = UInt8(v & 0xff); data[at + 1] = UInt8(v >> 8 & 0xff) }
    mutating func set32(_ at: Int, _ v: Int) { set16(at, v & 0xffff); set16(at + 2, v >> 16 & 0xffff) }

    var firstIFD: Int { u32(4) }
    /// Where an IFD's next-IFD offset is stored.
    func nextPointer(ofIFD ifd: Int) -> Int { ifd + 2 + 12 * u16(ifd) }

    func entry(_ tag: Int, ifd: Int) -> Int? {
        (0..<u16(ifd)).map { ifd + 2 + 12 * $0 }.first { u16($0) == tag }
    }

    /// Rewrites an entry as one LONG value; the entry must exist.
    mutating func setLong(_ tag: Int, _ value: Int, ifd: Int? = nil) {
        guard let at = entry(tag, ifd: ifd ?? firstIFD) else { return }
        set16(at + 2, 4)
        set32(at + 4, 1)
        set32(at + 8, value)
    }

    func write(to path: String) throws { try Data(data).write(to: URL(fileURLWithPath: path)) }
}

/// Opens and reads the whole first page (or `window`), returning the error if any.
private func readAll(_ path: String, window: PixelWindow? = nil) -> RasterError? {
    switch read(path, window: window) {
    case .success: nil
    case .failure(let error): error
    }
}

private func read(_ path: String, window: PixelWindow? = nil) -> Result<RasterBuffer, RasterError> {
    Result { () throws(RasterError) in
        let reader = try TIFFReader(path: path)
        return try reader.readWindow(window ?? PixelWindow(x: 0, y: 0, width: reader.info.width, height: reader.info.height))
    }
}

private func elapsed(_ body: () -> Void) -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

@Suite struct TIFFHostileInputTests {
    private func goodFile(_ folder: TemporaryFolder, _ name: String, configure: (inout TIFFFixture) -> Void = { _ in }) throws -> String {
        try goodFixture(folder, name, configure: configure).path
    }

    private func goodFixture(_ folder: TemporaryFolder, _ name: String, configure: (inout TIFFFixture) -> Void = { _ in }) throws -> (path: String, expected: RasterBuffer) {
        var fixture = TIFFFixture()
        fixture.rowsPerStrip = fixture.height
        configure(&fixture)
        let path = folder.file(name)
        try fixture.write(to: path)
        #expect(readAll(path) == nil, "the unforged fixture must read")
        return (path, fixture.expected())
    }

    /// libtiff repairs some damage (a missing next-IFD offset, byte counts it can recompute for
    /// uncompressed strips); such a file may read, but then only with the right values.
    private func expectRefusedOrExact(_ path: String, _ expected: RasterBuffer, _ comment: Comment, sourceLocation: SourceLocation = #_sourceLocation) {
        switch read(path) {
        case .success(let buffer):
            let exact = buffer == expected
            #expect(exact, comment, sourceLocation: sourceLocation)
        case .failure(let error):
            #expect(error.path == path, sourceLocation: sourceLocation)
            #expect(!error.reason.isEmpty && !error.description.contains("\n"), sourceLocation: sourceLocation)
        }
    }

    @Test func truncatedFilesFailCleanly() throws {
        let folder = try TemporaryFolder()
        let sources = [
            try goodFixture(folder, "tiled.tif") { $0.tile = (16, 16); $0.compression = COMPRESSION_ADOBE_DEFLATE; $0.bands = 3 },
            try goodFixture(folder, "strips.tif") { $0.rowsPerStrip = 4; $0.bitsPerSample = 16 },
            try goodFixture(folder, "lzw.tif") { $0.compression = COMPRESSION_LZW; $0.rowsPerStrip = 8 },
        ]
        var refused = 0
        for (source, expected) in sources {
            let bytes = try TIFFBytes(path: source)
            let n = bytes.data.count
            for length in Set([0, 1, 4, 7, 8, 15, 100, n / 4, n / 2, n - 200, n - 13, n - 1]) where length >= 0 && length < n {
                let path = folder.file("cut.tif")
                try Data(bytes.data.prefix(length)).write(to: URL(fileURLWithPath: path))
                expectRefusedOrExact(path, expected, "\(source) cut to \(length) of \(n) bytes")
                if readAll(path) != nil { refused += 1 }
            }
        }
        #expect(refused >= 25)
    }

    @Test func corruptedBytesNeverCrashOrHang() throws {
        let folder = try TemporaryFolder()
        let sources = [
            try goodFile(folder, "tiled.tif") { $0.tile = (16, 16); $0.compression = COMPRESSION_ADOBE_DEFLATE; $0.bands = 3; $0.predictor = 2 },
            try goodFile(folder, "strips.tif") { $0.rowsPerStrip = 3; $0.compression = COMPRESSION_LZW; $0.pages = 2 },
            try goodFile(folder, "packbits.tif") { $0.planar = .separate; $0.bands = 2; $0.compression = COMPRESSION_PACKBITS; $0.rowsPerStrip = 6 },
        ]
        var state: UInt64 = 0x9e37_79b9_7f4a_7c15
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        var failures = 0
        let seconds = elapsed {
            for source in sources {
                guard let original = try? TIFFBytes(path: source) else { return }
                for variant in 0..<150 {
                    var bytes = original
                    for _ in 0...next(6) {
                        // Mostly the header and IFD (the end of a libtiff file), sometimes the data.
                        let at = variant % 3 == 0 ? next(bytes.data.count) : bytes.data.count - 1 - next(min(300, bytes.data.count))
                        bytes.data[at] = UInt8(next(256))
                    }
                    let path = folder.file("corrupt.tif")
                    try? bytes.write(to: path)
                    if let error = readAll(path) {
                        failures += 1
                        #expect(!error.reason.isEmpty && !error.description.contains("\n"))
                    }
                }
            }
        }
        #expect(failures > 0, "corruption never caused an error; the test forges nothing")
        #expect(seconds < 20)
    }

    @Test func forgedHugeDimensionsFailFast() throws {
        let folder = try TemporaryFolder()
        let variants: [(String, (inout TIFFFixture) -> Void)] = [
            ("raw strips", { $0.rowsPerStrip = 4 }),
            ("one raw strip", { _ in }),
            ("deflate strip", { $0.compression = COMPRESSION_ADOBE_DEFLATE }),
            ("deflate tiles", { $0.tile = (16, 16); $0.compression = COMPRESSION_ADOBE_DEFLATE }),
            ("raw tiles", { $0.tile = (16, 16) }),
            ("many bands", { $0.bands = 200; $0.planar = .separate; $0.compression = COMPRESSION_ADOBE_DEFLATE }),
        ]
        for (name, configure) in variants {
            let source = try goodFile(folder, "\(name).tif") { $0.width = 16; $0.height = 16; configure(&$0) }
            var bytes = try TIFFBytes(path: source)
            bytes.setLong(256, 100_000)
            bytes.setLong(257, 100_000)
            if name.hasSuffix("strip") { bytes.setLong(278, 100_000) }
            let path = folder.file("forged.tif")
            try bytes.write(to: path)
            var error: RasterError?
            let seconds = elapsed { error = readAll(path, window: PixelWindow(x: 0, y: 0, width: 512, height: 512)) }
            #expect(error != nil, "\(name): a 100000×100000 header on a \(bytes.data.count)-byte file was read")
            #expect(seconds < 0.5, "\(name) took \(seconds) s to fail")
            if name == "deflate strip" {
                // The header alone is readable: only decoding a 10 GB strip is refused.
                #expect((try? TIFFReader(path: path))?.info.width == 100_000)
                #expect(error?.reason.contains("MiB") == true, "\(error?.reason ?? "")")
            }
        }
    }

    @Test func stripPastTheEndOfTheFileIsRefused() throws {
        let folder = try TemporaryFolder()
        let (source, expected) = try goodFixture(folder, "good.tif")
        var bytes = try TIFFBytes(path: source)
        let path = folder.file("past-end.tif")
        bytes.setLong(273, bytes.data.count + 1000)
        try bytes.write(to: path)
        #expect(readAll(path)?.reason.contains("past the end") == true)

        // Uncompressed strips with a bogus byte count are recomputed by libtiff from the size.
        for count in [0, 1 << 30] {
            bytes = try TIFFBytes(path: source)
            bytes.setLong(279, count)
            try bytes.write(to: path)
            expectRefusedOrExact(path, expected, "byte count \(count)")
        }

        let (compressed, values) = try goodFixture(folder, "deflate.tif") { $0.compression = COMPRESSION_ADOBE_DEFLATE }
        for (tag, value) in [(279, 0), (279, 1 << 30), (273, 1 << 30), (273, 0)] {
            bytes = try TIFFBytes(path: compressed)
            bytes.setLong(tag, value)
            try bytes.write(to: path)
            expectRefusedOrExact(path, values, "deflate strip with tag \(tag) = \(value)")
        }
        bytes = try TIFFBytes(path: compressed)
        bytes.setLong(273, bytes.data.count - 4)
        try bytes.write(to: path)
        #expect(readAll(path)?.reason.contains("past the end") == true)
    }

    @Test func zeroTileHeightAndZeroRowsPerStripAreRefused() throws {
        let folder = try TemporaryFolder()
        let tiled = try goodFile(folder, "tiled.tif") { $0.tile = (16, 16) }
        var bytes = try TIFFBytes(path: tiled)
        bytes.setLong(323, 0)
        let path = folder.file("zero.tif")
        try bytes.write(to: path)
        var seconds = elapsed { #expect(readAll(path) != nil) }
        #expect(seconds < 0.5)

        bytes = try TIFFBytes(path: tiled)
        bytes.setLong(322, 0)
        try bytes.write(to: path)
        seconds = elapsed { #expect(readAll(path) != nil) }
        #expect(seconds < 0.5)

        let stripped = try goodFile(folder, "strips.tif") { $0.rowsPerStrip = 4 }
        bytes = try TIFFBytes(path: stripped)
        bytes.setLong(278, 0)
        try bytes.write(to: path)
        seconds = elapsed {
            // libtiff may treat RowsPerStrip 0 as "one strip"; either way nothing may crash or hang.
            if let error = readAll(path) { #expect(!error.reason.isEmpty) }
        }
        #expect(seconds < 0.5)
    }

    @Test func loopingPageChainsEnd() throws {
        let folder = try TemporaryFolder()
        let source = try goodFile(folder, "pages.tif") { $0.pages = 3 }
        let original = try TIFFBytes(path: source)
        let first = original.firstIFD
        let second = original.u32(original.nextPointer(ofIFD: first))
        let third = original.u32(original.nextPointer(ofIFD: second))
        #expect(try TIFFReader(path: source).info.pages == 3)
        for (from, to) in [(first, first), (third, first), (third, second), (second, first)] {
            var bytes = original
            bytes.set32(bytes.nextPointer(ofIFD: from), to)
            let path = folder.file("loop.tif")
            try bytes.write(to: path)
            let seconds = elapsed {
                do {
                    let reader = try TIFFReader(path: path)
                    #expect(reader.info.pages >= 1 && reader.info.pages <= 3)
                    for page in 0..<reader.info.pages {
                        _ = try? reader.readWindow(PixelWindow(x: 0, y: 0, width: 4, height: 4), page: page)
                    }
                    #expect(throws: RasterError.self) { try reader.readWindow(PixelWindow(x: 0, y: 0, width: 4, height: 4), page: 3) }
                } catch {
                    #expect(error is RasterError)
                }
            }
            #expect(seconds < 0.5)
        }
    }
}


/// A name that is not UTF-8 (Latin-1 "café.tif") is listed with U+FFFD for its bad byte, and
/// that spelling opens nothing: the error says why instead of "no such file".
@Test func aNameThatIsNotUTF8IsExplained() throws {
    let folder = try TemporaryFolder()
    var bytes = Array(folder.path.utf8) + Array("/caf".utf8) + [0xE9] + Array(".tif".utf8)
    bytes.append(0)
    let fd = bytes.withUnsafeBufferPointer { pointer in
        pointer.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_WRONLY | O_CREAT, 0o644) }
    }
    try #require(fd >= 0)
    close(fd)
    let listed = try FileManager.default.contentsOfDirectory(atPath: folder.path)
    let name = try #require(listed.first)
    #expect(name.contains("\u{FFFD}"))
    for open in [{ _ = try TIFFReader(path: folder.file(name)) }, { _ = try RasterFileKind.detect(path: folder.file(name)) },
                 { _ = try PNGReader(path: folder.file(name)) }] as [() throws -> Void] {
        let error = #expect(throws: RasterError.self) { try open() }
        #expect(error?.reason.contains("its name is not valid UTF-8") == true, "\(String(describing: error))")
    }
}

/// A link whose target is gone is named as such: "no such file" contradicted `ls`, which lists it.
@Test func aDanglingLinkIsNamedAsOne() throws {
    let folder = try TemporaryFolder()
    try FileManager.default.createSymbolicLink(atPath: folder.file("scene.tif"), withDestinationPath: folder.file("moved.tif"))
    for open in [{ _ = try TIFFReader(path: folder.file("scene.tif")) }, { _ = try RasterFileKind.detect(path: folder.file("scene.tif")) },
                 { _ = try PNGReader(path: folder.file("scene.tif")) }] as [() throws -> Void] {
        let error = #expect(throws: RasterError.self) { try open() }
        #expect(error?.reason == "is a symbolic link to \(folder.file("moved.tif")), which does not exist", "\(String(describing: error))")
    }
}

/// A FIFO named like an image, mask or legend is refused at once: opening one blocks until a
/// writer comes, which in a nightly run is never, and no signal ends the wait.
@Test func aFIFOIsRefusedWithoutWaitingForAWriter() throws {
    let folder = try TemporaryFolder()
    for name in ["scene.tif", "mask.png", "legend.json"] { try #require(mkfifo(folder.file(name), 0o644) == 0) }
    let (scene, mask, legend) = (folder.file("scene.tif"), folder.file("mask.png"), folder.file("legend.json"))
    let opens: [(String, @Sendable () throws -> Void)] = [
        ("scene.tif", { _ = try RasterFileKind.detect(path: scene) }),
        ("scene.tif", { _ = try TIFFReader(path: scene) }),
        ("mask.png", { _ = try PNGReader(path: mask) }),
        ("mask.png", { _ = try PNGMaskReader(path: mask, legend: .default) }),
        ("legend.json", { _ = try ClassLegend.load(path: legend) }),
    ]
    for (name, open) in opens {
        let outcome = Mutex<String?>(nil)
        let done = DispatchSemaphore(value: 0)
        // On a thread of its own: if the open blocks, the test fails instead of hanging.
        Thread {
            do { try open() } catch { outcome.withLock { $0 = "\(error)" } }
            done.signal()
        }.start()
        try #require(done.wait(timeout: .now() + 10) == .success, "\(name) blocked")
        let message = try #require(outcome.withLock { $0 })
        #expect(message.contains("is a FIFO (named pipe)"), "\(message)")
    }
}
