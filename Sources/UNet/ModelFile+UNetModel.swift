extension ModelFile {
    /// The model's current parameters (and, with `includeTraining`, its Adam state and dropout
    /// generator state), ready to write.
    public init(
        model: UNetModel, includeTraining: Bool = false, classes: [ModelClass]? = nil,
        normalization: ModelNormalization? = nil
    ) {
        var training: TrainingState?
        if includeTraining {
            let state = model.optimizerState()
            training = TrainingState(adamStep: state.step, adamM: state.m, adamV: state.v,
                                     dropoutGeneratorState: model.dropoutGeneratorState)
        }
        self.init(config: model.config, parameters: model.parameters(), classes: classes,
                  normalization: normalization, training: training)
    }

    /// A network with this file's configuration and parameters, and its training state when the
    /// file has one, so training resumes exactly where it stopped.
    public func makeModel(precision: Precision = .f32, convolutionAlgorithm: ConvolutionAlgorithm = .winograd,
                          batchSize: Int? = nil) throws -> UNetModel {
        let model = try UNetModel(config: config, precision: precision, convolutionAlgorithm: convolutionAlgorithm, batchSize: batchSize)
        try model.setParameters(parameters)
        if let training {
            try model.setOptimizerState(step: training.adamStep, m: training.adamM, v: training.adamV)
            model.dropoutGeneratorState = training.dropoutGeneratorState
        }
        return model
    }
}
