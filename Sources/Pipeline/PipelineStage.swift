/// One stage of a pipeline file.
public struct PipelineStage: Sendable {
    public enum Action: Sendable {
        case train(TrainingOptions)
        case predict(BatchPredictionJob)
        case evaluate(EvaluationJob)
    }

    public enum Kind: String, Sendable, CaseIterable {
        case train, predict, evaluate
    }

    /// `name:` in the file, else the kind.
    public var name: String
    public var action: Action
    /// Where the stage starts in the file.
    public var position: SourcePosition
    /// Where each key's value is, for errors found after parsing.
    public var positions: [String: SourcePosition]

    public var kind: Kind {
        switch action {
        case .train: .train
        case .predict: .predict
        case .evaluate: .evaluate
        }
    }

    func position(of key: String) -> SourcePosition { positions[key] ?? position }
}

/// A predict stage: the predictor's options and the scenes (files or folders of TIFFs).
public struct BatchPredictionJob: Sendable {
    public var options: PredictionOptions
    public var inputs: [String]

    public init(options: PredictionOptions, inputs: [String]) {
        self.options = options
        self.inputs = inputs
    }
}

/// An evaluate stage: `segpipe evaluate`'s options, and optionally a file for the JSON report.
public struct EvaluationJob: Sendable {
    public var predictions: String
    public var truth: String
    public var legendPath: String?
    public var truthSuffix = ""
    public var reportPath: String?

    public init(predictions: String, truth: String) {
        self.predictions = predictions
        self.truth = truth
    }
}
