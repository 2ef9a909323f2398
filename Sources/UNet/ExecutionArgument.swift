/// oneDNN's execution-argument indices (`DNNL_ARG_*`), spelled out because the C header defines
/// several of them through other macros, which Swift does not import.
enum ExecutionArgument {
    static let source: Int32 = 1
    static let destination: Int32 = 17
    static let weights: Int32 = 33
    static let bias: Int32 = 41
    static let mean: Int32 = 49
    static let variance: Int32 = 50
    static let scale: Int32 = 51
    static let shift: Int32 = 52
    static let workspace: Int32 = 64
    static let diffSource: Int32 = 129
    static let diffDestination: Int32 = 145
    static let diffWeights: Int32 = 161
    static let diffBias: Int32 = 169
    static let diffScale: Int32 = 255
    static let diffShift: Int32 = 256
}
