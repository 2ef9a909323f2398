import ArgumentParser
import Foundation
import Pipeline

/// The `segpipe` command. Every subcommand is a thin call into `Pipeline`.
struct Segpipe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segpipe",
        abstract: "Segmentation maps from multi-band satellite and aerial imagery.",
        discussion: """
            Reads multi-band TIFF scenes and PNG masks, trains a U-Net on 160×160 tiles and \
            predicts colour-coded class maps. See README.md for the full workflow.
            """,
        version: SegpipeVersion.string,
        subcommands: [Inspect.self, SampleData.self, Train.self, Predict.self, Evaluate.self, Run.self, Bench.self]
    )

    /// No command is a mistake (a cron line cut short), not a request: the help, and status 2.
    func run() throws {
        print(Self.helpMessage())
        printError("segpipe: no command given (inspect, sample-data, train, predict, evaluate, run or bench)")
        throw ExitCode(ExitStatus.usage)
    }
}

/// Exit statuses shared by every command.
enum ExitStatus {
    static let success: Int32 = 0
    static let failure: Int32 = 1
    static let usage: Int32 = 2
    /// EX_TEMPFAIL: another run holds the output folder; try again later.
    static let locked: Int32 = 75
}

/// Parses, runs, and maps failures to segpipe's exit statuses: 2 for bad usage (rather than
/// ArgumentParser's 64), 1 for a failed run, each with a one-line message on stderr.
@main
enum SegpipeMain {
    static func main() {
        StandardStreams.secure()
        OpenFileLimit.raise()
        let command: ParsableCommand
        do {
            command = try Segpipe.parseAsRoot()
        } catch {
            let code = Segpipe.exitCode(for: error)
            if code == .success {
                print(Segpipe.fullMessage(for: error))
                exit(ExitStatus.success)
            }
            // One line, like every other failure; --help has the usage.
            printError("segpipe: \(Segpipe.message(for: error))")
            exit(ExitStatus.usage)
        }
        do {
            var runnable = command
            try runnable.run()
        } catch let exitCode as ExitCode {
            exit(exitCode.rawValue)
        } catch let error as ValidationError {
            printError("segpipe: \(error)")
            exit(ExitStatus.usage)
        } catch let error as UsageError {
            printError("segpipe", error)
            exit(ExitStatus.usage)
        } catch where Segpipe.exitCode(for: error) == .success {
            // `segpipe help COMMAND` asks for help from inside run().
            print(Segpipe.fullMessage(for: error))
            exit(ExitStatus.success)
        } catch {
            printError("segpipe", error)
            exit(ExitStatus.failure)
        }
    }
}

/// Prints a line of a command's product (inspect, evaluate, bench, sample-data) on standard
/// output: unlike a log line, output lost to a full disk fails the command. A reader that went
/// away (`| head`) ends it quietly.
func printProduct(_ line: String) throws {
    guard let failure = StandardStreams.write(line + "\n", to: STDOUT_FILENO) else { return }
    if failure != EPIPE { printError("segpipe: cannot write the standard output (\(String(cString: strerror(failure))))") }
    throw ExitCode(ExitStatus.failure)
}

/// Writes one line on standard error; a newline or escape sequence inside it (from a file name)
/// is escaped, so that one failure stays one line.
func printError(_ message: String) {
    StandardStreams.write(TerminalText.line(message) + "\n", to: STDERR_FILENO)
}

/// Writes an error after `prefix: `; an error listing several problems gets a line for each.
func printError(_ prefix: String, _ error: any Error) {
    for line in TerminalText.lines(of: error) { printError("\(prefix): \(line)") }
}

/// Writes one line of progress on standard output, escaped as `printError` escapes.
func printLine(_ text: String) {
    print(TerminalText.line(text))
}
