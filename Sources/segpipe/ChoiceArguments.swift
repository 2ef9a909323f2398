import ArgumentParser
import Pipeline

// Options that pick one of an enumeration's cases parse straight into it: ArgumentParser lists
// the values in --help and names them in the error for anything else.
extension NetworkBenchmark.Mode: ExpressibleByArgument {}
extension Pipeline.Precision: ExpressibleByArgument {}
extension Pipeline.Upsampling: ExpressibleByArgument {}
extension Pipeline.ConvolutionAlgorithm: ExpressibleByArgument {}
extension ClassPainter.Mode: ExpressibleByArgument {}
extension Normalization.Mode: ExpressibleByArgument {}
