extension ModelFile {
    /// The model's current parameters (and, with `includeTraining`, its Adam state and dropout
    /// generator state), ready to write.
    public init(
        model: UNetModel, includeTraining: Bool = false, classes: [ModelClass]? = nil, background: ModelClass? = nil,
        normalization: ModelNormalization? = nil
    ) {
        var training: TrainingState?
        if includeTraining {
            let state = model.optimizerState()
            training = TrainingState(adamStep: state.step, adamM: state.m, adamV: state.v,
                                     dropoutGeneratorState: model.dropoutGeneratorState)
        }
        self.init(config: model.config, parameters: model.parameters(), classes: classes, background: background,
                  normalization: normalization, training: training)
    }

    /// Writes what `ModelFile(model:includeTraining:classes:background:normalization:)` with `trainer` set
    /// would write, reading each tensor from the model only when the writer reaches it: a
    /// checkpoint then holds one tensor's copy at a time (for the reference network, at most 38 MB)
    /// rather than every parameter and both Adam moments (372 MB).
    public static func write(model: UNetModel, includeTraining: Bool = false, classes: [ModelClass]? = nil,
                             background: ModelClass? = nil, normalization: ModelNormalization? = nil, trainer: String? = nil,
                             toFile path: String) throws {
        func fetch(_ read: @escaping (ParameterTensor) throws -> [Float]) -> TensorSource {
            { name, _ in
                guard let parameter = model.parameter(named: name) else {
                    throw ModelFileError(path: path, reason: "cannot save: the model has no parameter \(name)")
                }
                return try read(parameter)
            }
        }
        let training = includeTraining
            ? (state: ModelFileDocument.Training(adamStep: model.adamStep, dropoutGeneratorState: model.dropoutGeneratorState, trainer: trainer),
               firstMoments: fetch { try $0.moment(second: false) }, secondMoments: fetch { try $0.moment(second: true) })
            : nil
        try write(config: model.config, classes: classes, background: background, normalization: normalization,
                  parameters: fetch { try $0.values },
                  training: training, toFile: path)
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
