import Foundation
import Testing
import Raster

/// Only this machine's temporary files of processes that ended count as abandoned.
@Test func onlyThisMachinesDeadProcessesAbandonTheirTemporaryFiles() throws {
    let finished = Process()
    finished.executableURL = URL(fileURLWithPath: "/bin/true")
    try finished.run()
    finished.waitUntilExit()
    let (dead, live, host) = (finished.processIdentifier, getpid(), TemporaryFileName.host)
    #expect(TemporaryFileName.isAbandoned(".m.json.tmp-\(dead)@\(host)-12"))
    #expect(TemporaryFileName.isAbandoned(".m.json.tmp-\(dead)-12"), "the name of earlier versions")
    #expect(!TemporaryFileName.isAbandoned(".m.json.tmp-\(dead)@other-host-12"))
    #expect(!TemporaryFileName.isAbandoned(".m.json.tmp-\(getppid())@\(host)-12"), "another live process's")
    #expect(!TemporaryFileName.isAbandoned("m.json.tmp-\(dead)@\(host)-12"), "not hidden")
    #expect(!TemporaryFileName.isAbandoned(".m.png.0F1E.tmp"))
    #expect(!host.contains("-") && !host.contains("@") && !host.isEmpty)
    let path = TemporaryFileName.beside("/data/out/scene.tif")
    #expect(path.hasPrefix("/data/out/.scene.tif.tmp-\(live)@\(host)-"))
    #expect(!TemporaryFileName.isAbandoned((path as NSString).lastPathComponent), "this process's own")
}

/// A destination name near the file system's 255 bytes still gets a temporary name that fits,
/// and that a sweep still recognises as this process's.
@Test func temporaryNamesOfLongNamesFitTheFileSystem() throws {
    let folder = try TemporaryFolder()
    let name = String(repeating: "é", count: 60) + String(repeating: "n", count: 120) + ".png"
    let temporary = (TemporaryFileName.beside(folder.file(name)) as NSString).lastPathComponent
    #expect(temporary.utf8.count <= 255)
    #expect(temporary.hasPrefix(".éé"))
    #expect(!TemporaryFileName.isAbandoned(temporary))
    let writer = try PNGWriter(path: folder.file(name), width: 1, height: 1, layout: .gray(bitDepth: 8))
    try writer.writeRow([7] as [UInt16])
    try writer.finish()
    #expect(folder.contents == [name])
}

/// In a container every run is PID 1: a leftover with a running PID may be an earlier run's or a
/// live one of another container with this host name, so it is kept until it is a day old. A
/// file nobody has touched for a day is abandoned wherever it was written, so that leftovers of
/// machines that are gone (pods) do not pile up.
@Test func dayOldFilesAreAbandonedWhoeverWroteThem() {
    let (live, host) = (getpid(), TemporaryFileName.host)
    let now = Date()
    #expect(!TemporaryFileName.isAbandoned(".m.png.tmp-\(live)@\(host)-12", modified: now, now: now))
    #expect(TemporaryFileName.isAbandoned(".m.png.tmp-\(live)@\(host)-12",
                                          modified: now.addingTimeInterval(-2 * TemporaryFileName.abandonedAfter), now: now))
    let dayOld = now.addingTimeInterval(-TemporaryFileName.abandonedAfter - 60)
    let hourOld = now.addingTimeInterval(-3600)
    #expect(TemporaryFileName.isAbandoned(".m.png.tmp-\(live)@pod-7f9c-1.aa.12", modified: dayOld, now: now))
    #expect(!TemporaryFileName.isAbandoned(".m.png.tmp-\(live)@pod-7f9c-1.aa.12", modified: hourOld, now: now))
    #expect(!TemporaryFileName.isAbandoned(".m.png.notours", modified: dayOld, now: now))
}

/// The PNG writer's temporary file is named like the others, so a sweep can tell its owner.
@Test func thePNGWritersTemporaryFileNamesItsProcessAndMachine() throws {
    let folder = try TemporaryFolder()
    let writer = try PNGWriter(path: folder.file("map.png"), width: 2, height: 2, layout: .gray(bitDepth: 8))
    #expect(folder.contents.count == 1 && folder.contents[0].hasPrefix(".map.png.tmp-\(getpid())@\(TemporaryFileName.host)-"))
    #expect(!TemporaryFileName.isAbandoned(folder.contents[0]))
    try writer.writeRow([1, 2] as [UInt16])
    try writer.writeRow([3, 4] as [UInt16])
    try writer.finish()
    #expect(folder.contents == ["map.png"])
}

/// Scenes and masks reached through symbolic links (a staging folder of links) read as their targets.
@Test func symbolicLinksToTIFFsAndPNGsAreRead() throws {
    let folder = try TemporaryFolder()
    let tiff = try TIFFWriter(path: folder.file("a.tif"), width: 4, height: 2, bands: 1, sampleType: .uint8,
                              layout: .stripped(rowsPerStrip: 2), compression: .none)
    var values = RasterBuffer(bands: 1, width: 4, height: 2)
    for x in 0..<4 { values[0, 1, x] = Float(x) }
    try tiff.writeRows(values)
    try tiff.finish()
    try writeTestPNG(folder.file("b.png"), width: 3, height: 1, layout: .gray(bitDepth: 8)) { x, _, _ in UInt16(x) }
    try FileManager.default.createSymbolicLink(atPath: folder.file("link.tif"), withDestinationPath: folder.file("a.tif"))
    try FileManager.default.createSymbolicLink(atPath: folder.file("link.png"), withDestinationPath: "b.png")
    #expect(try TIFFReader(path: folder.file("link.tif")).readWindow(PixelWindow(x: 0, y: 1, width: 4, height: 1)).values == [0, 1, 2, 3])
    #expect(try PNGReader(path: folder.file("link.png")).info.width == 3)
}
