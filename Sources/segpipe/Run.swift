import ArgumentParser
import Foundation
import Pipeline

/// `segpipe run`: runs a pipeline file's stages, unattended.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the stages of a pipeline file (train, predict, evaluate) unattended.",
        discussion: """
            The file is checked before anything runs. Predict stages are incremental (scenes \
            whose input, model and options are unchanged since their outputs were made are \
            skipped), locked (a second run over the same output folder exits 75), and write \
            run-report.json into the output folder. --shard I/N (0-based) predicts a stable share \
            of the scenes; without it the share comes from SLURM_ARRAY_TASK_ID and \
            SLURM_ARRAY_TASK_COUNT, or from JOB_COMPLETION_INDEX with --shard-count. Exit \
            status: 0 all done, 1 some scenes or a stage failed, 2 bad usage or pipeline file, \
            75 another run holds the output folder.
            """
    )

    @Argument(help: ArgumentHelp("Pipeline file.", valueName: "file.yml")) var file: String
    @Option(help: ArgumentHelp("Run only the stage with this name.", valueName: "name")) var stage: String?
    @Flag(help: "Check the file and say what would be done, without doing it.") var dryRun = false
    @Option(parsing: .unconditional, help: ArgumentHelp("Predict only shard I of N (0-based).", valueName: "I/N")) var shard: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("Number of shards, with JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID.", valueName: "N"))
    var shardCount: Int?
    @Flag(help: "Print only failures.") var quiet = false
    @Flag(help: "Also print why each scene is predicted, and more.") var verbose = false

    func validate() throws {
        if quiet && verbose { throw ValidationError("--quiet and --verbose exclude each other") }
    }

    func run() throws {
        let log = RunLog.standard(level: quiet ? .quiet : verbose ? .verbose : .normal)
        let runner: PipelineRunner
        do {
            let resolvedShard = try Shard.resolve(argument: shard, count: shardCount,
                                                  environment: ProcessInfo.processInfo.environment)
            runner = try PipelineRunner(file: try PipelineFile.load(path: file), only: stage, shard: resolvedShard, log: log)
        } catch let problems as PipelineFileProblems {
            printError("segpipe run", problems)
            throw ExitCode(ExitStatus.usage)
        } catch {
            printError("segpipe run", error)
            throw ExitCode(ExitStatus.usage)
        }
        if dryRun {
            try runner.dryRun()
            return
        }
        var configured = runner
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber) { received in stopSignal.store(received, ordering: .relaxed) }
        }
        configured.stopRequested = { stopSignal.load(ordering: .relaxed) != 0 }
        let display = ProgressDisplay()
        if !quiet {
            // The display prints through stdio, the run log unbuffered: flush so lines stay in order in a file.
            configured.onTrainingEvent = { event in
                display.show(event)
                fflush(nil)
            }
        }
        do {
            let outcome = try configured.run()
            display.finish()
            if outcome == .someFailed { throw ExitCode(ExitStatus.failure) }
        } catch let problem as PipelineFileError {
            printError("segpipe run: \(problem)")
            throw ExitCode(ExitStatus.usage)
        } catch let busy as RunLockBusy {
            printError("segpipe run: \(busy)")
            throw ExitCode(ExitStatus.locked)
        } catch let interrupted as TrainingInterrupted {
            display.finish()
            printError("segpipe run: \(interrupted)")
            throw ExitCode(128 + stopSignal.load(ordering: .relaxed))
        } catch let interrupted as RunInterrupted {
            printError("segpipe run: \(interrupted)")
            throw ExitCode(128 + stopSignal.load(ordering: .relaxed))
        }
    }
}
