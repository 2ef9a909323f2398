import Foundation
import Raster

/// Runs the stages of a pipeline file in order (`segpipe run`).
///
/// Train and evaluate run as whole steps; predict runs as a `BatchPrediction`. A stage that
/// fails stops the run unless it is a predict stage whose failures are single scenes: those are
/// reported, the later stages still run, and the outcome is `.someFailed`.
public struct PipelineRunner {
    public enum Outcome: Sendable, Equatable {
        case success, someFailed
    }

    public var file: PipelineFile
    public var stages: [PipelineStage]
    public var shard: Shard
    public var log: RunLog
    public var stopRequested: @Sendable () -> Bool = { false }
    /// Receives the trainer's events (the command line shows them).
    public var onTrainingEvent: (TrainingEvent) -> Void = { _ in }

    /// Validates the file system for `stages` (all of `file`'s when nil) and the shard; throws
    /// `PipelineFileProblems`, all that were found, before anything runs.
    public init(file: PipelineFile, only stageName: String? = nil, shard: Shard = .whole, log: RunLog) throws(PipelineFileProblems) {
        self.file = file
        do {
            stages = try file.selected(stageName)
        } catch {
            throw PipelineFileProblems(error)
        }
        self.shard = shard
        self.log = log
        var problems: [PipelineFileError] = []
        if !shard.isWhole, let whole = stages.first(where: { $0.kind != .predict }) {
            let predict = stages.first { $0.kind == .predict }?.name ?? "NAME"
            problems.append(PipelineFileError(path: file.path, at: whole.position,
                                              "the \(whole.kind.rawValue) stage '\(whole.name)' cannot be sharded; run it unsharded, and the shards with --stage \(predict)"))
        }
        var omitted = 0
        do {
            try file.check(stages)
        } catch {
            problems += error.problems
            omitted = error.omitted
        }
        if let found = PipelineFileProblems(problems, omitted: omitted) { throw found }
    }

    /// Says what each stage would do; writes nothing.
    public func dryRun() throws {
        var trainers: [String: String] = [:]
        for stage in stages {
            switch stage.action {
            case .train(let options):
                log.info("\(stage.name): \(Trainer(options: options).plannedWork)")
                trainers[options.output] = stage.name
            case .predict(let job):
                try BatchPrediction(job: job, shard: shard, pipeline: file.path, stage: stage.name)
                    .plan(log: log, retrainedBy: trainers[job.options.modelPath])
            case .evaluate(let job):
                log.info("\(stage.name): would evaluate \(job.predictions) against \(job.truth)"
                    + (job.reportPath.map { ", report to \($0)" } ?? ""))
            }
        }
    }

    /// Runs the stages. Throws `RunLockBusy` when a predict stage's folder is in use, a
    /// `PipelineFileError` for an option value the predictor refuses, the error of a stage
    /// that failed as a whole, and `RunInterrupted` (or the trainer's `TrainingInterrupted`) once
    /// `stopRequested` returns true: it is asked between scenes, training steps and stages, and
    /// after the last stage, so a signal is never lost.
    public func run() throws -> Outcome {
        var outcome = Outcome.success
        for (index, stage) in stages.enumerated() {
            if stopRequested() {
                throw RunInterrupted(stage: index > 0 ? stages[index - 1].name : stage.name, stageFinished: index > 0)
            }
            log.info("== \(stage.name)")
            do {
                try runStage(stage, outcome: &outcome)
            } catch let error where !(error is RunInterrupted || error is TrainingInterrupted) {
                // The error itself is printed by the caller; the log also says what it cost.
                for later in stages[(index + 1)...] { log.error("\(later.name): not run, as stage '\(stage.name)' failed") }
                throw error
            }
        }
        if stopRequested(), let last = stages.last { throw RunInterrupted(stage: last.name, stageFinished: true) }
        return outcome
    }

    /// One stage of `run`; a predict or evaluate stage with failed scenes sets `outcome`.
    private func runStage(_ stage: PipelineStage, outcome: inout Outcome) throws {
        switch stage.action {
        case .train(let options):
            let trained: Int
            do {
                trained = try Trainer(options: options).run(stopRequested: stopRequested, onEvent: onTrainingEvent)
            } catch var interrupted as TrainingInterrupted {
                // The pipeline file, not an option, says whether to resume.
                interrupted.advice = options.resume ? "run the pipeline again to resume"
                    : "set 'resume: true' in the stage '\(stage.name)' and run the pipeline again to resume"
                throw interrupted
            }
            if trained > 0 {
                log.info("\(stage.name): wrote \(options.output)")
            } else {
                log.info("\(stage.name): nothing left to train; \(options.output) is the finished run's")
            }
        case .predict(let job):
            let report: RunReport
            do {
                report = try BatchPrediction(job: job, shard: shard, pipeline: file.path, stage: stage.name)
                    .run(log: log, stopRequested: stopRequested)
            } catch let usage as UsageError {
                // The predictor checks its options when it loads the model; point at the key.
                let key = usage.description.split(separator: " ").first.map { String($0.dropFirst(2)) } ?? ""
                throw PipelineFileError(path: file.path, at: stage.position(of: key),
                                        usage.description.replacingOccurrences(of: "--\(key)", with: "'\(key)'"))
            }
            if report.failed > 0 { outcome = .someFailed }
        case .evaluate(let job):
            let report: EvaluationReport
            do {
                report = try Evaluator(legendPath: job.legendPath, truthSuffix: job.truthSuffix)
                    .evaluate(predictions: job.predictions, truth: job.truth, stopRequested: stopRequested)
            } catch is CancellationError {
                throw RunInterrupted(stage: stage.name, continuesNextRun: false)
            }
            if let reportPath = job.reportPath {
                let reportFolder = (reportPath as NSString).deletingLastPathComponent
                try FileManager.default.createDirectory(atPath: reportFolder, withIntermediateDirectories: true)
                AtomicFile.removeStaleTemporaries(in: reportFolder)
                try AtomicFile.write(Data(report.json.serialized.utf8), to: reportPath)
                log.info("\(stage.name): wrote \(reportPath)")
            }
            // The log takes one line at a time (it escapes what a line holds).
            for line in report.table.split(separator: "\n", omittingEmptySubsequences: false) { log.info(String(line)) }
            for failure in report.failures { log.error("\(stage.name): \(failure.message)") }
            if !report.failures.isEmpty { outcome = .someFailed }
        }
    }
}
