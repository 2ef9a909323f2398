import UNet

// The command line imports only Pipeline; these are the network's option types it names.
public typealias Upsampling = UNet.Upsampling
public typealias Precision = UNet.Precision
public typealias ConvolutionAlgorithm = UNet.ConvolutionAlgorithm
