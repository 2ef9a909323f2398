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
    #expect(!TemporaryFileName.isAbandoned(".m.json.tmp-\(live)@\(host)-12"))
    #expect(!TemporaryFileName.isAbandoned("m.json.tmp-\(dead)@\(host)-12"), "not hidden")
    #expect(!TemporaryFileName.isAbandoned(".m.png.0F1E.tmp"))
    #expect(!host.contains("-") && !host.contains("@") && !host.isEmpty)
    let path = TemporaryFileName.beside("/data/out/scene.tif")
    #expect(path.hasPrefix("/data/out/.scene.tif.tmp-\(live)@\(host)-"))
}
