import ArgumentParser
import Foundation
import Pipeline

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe TIFF and PNG files: size, bands, sample type, layout, georeferencing.",
        discussion: """
            Exit status: 0 when every file was read, 1 when any failed, 2 for bad usage. \
            With --json, one JSON object per line per file, in the order given.
            """
    )

    @Flag(help: "One JSON object per line per file.")
    var json = false

    @Flag(help: "Per-band minimum, maximum and mean of the first page's stored samples (streamed).")
    var stats = false

    @Option(parsing: .unconditional, help: ArgumentHelp("Restrict --stats to a window of the first page.", valueName: "x,y,width,height"))
    var window: String?

    @Argument(help: "TIFF or PNG files.")
    var files: [String]

    func validate() throws {
        if window != nil && !stats { throw ValidationError("--window needs --stats") }
        if let window, Inspector.parseWindow(window) == nil {
            throw ValidationError("--window must be x,y,width,height: whole numbers, x and y at least 0, width and height at least 1 (got '\(window)')")
        }
    }

    func run() throws {
        let area = window.flatMap(Inspector.parseWindow)
        var failed = false
        let table = InspectionTable()
        if !json { try printProduct(table.header) }
        for path in files {
            let inspection = Inspector.inspect(path: path, statistics: stats, window: area)
            failed = failed || !inspection.succeeded
            if json {
                try printProduct(inspection.json.serialized)
            } else {
                try printProduct(table.rows(for: inspection).joined(separator: "\n"))
            }
        }
        if failed { throw ExitCode(ExitStatus.failure) }
    }
}
