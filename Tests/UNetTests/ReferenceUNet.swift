@testable import UNet

/// The U-Net of UNET.md (training-mode batch normalisation, no dropout) composed from the Float64
/// reference layers: its loss is differentiated by finite differences to check whole-network
/// gradients.
struct ReferenceUNet {
    let config: UNetConfig
    var parameters: [String: [Double]]

    /// Logits NHWC and the loss for an NHWC input of shape [n, side, side, channels].
    func evaluate(input: [Double], batch n: Int, side: Int, targets: [Double], ignore: [Double]?) -> (logits: [Double], loss: Double) {
        func p(_ name: String) -> [Double] { parameters[name] ?? [] }
        func convolutions(_ prefix: String, _ x: [Double], _ shape: [Int]) -> ([Double], [Int]) {
            var x = x
            var shape = shape
            for conv in ["conv1", "conv2"] {
                let outChannels = p("\(prefix).\(conv).bias").count
                let kernelShape = [3, 3, shape[3], outChannels]
                x = ReferenceLayers.convolution(x, shape, kernel: p("\(prefix).\(conv).kernel"), kernelShape: kernelShape,
                                                bias: p("\(prefix).\(conv).bias"), relu: true)
                shape[3] = outChannels
            }
            return (x, shape)
        }
        func normalization(_ prefix: String, _ x: [Double], _ channels: Int) -> [Double] {
            ReferenceLayers.batchNorm(x, channels: channels, gamma: p("\(prefix).bn.gamma"), beta: p("\(prefix).bn.beta")).y
        }
        let depth = config.depth
        var x = input
        var shape = [n, side, side, config.nChannels]
        var skips: [([Double], [Int])] = []
        for level in 1...(depth + 1) {
            if level >= 2 {
                x = ReferenceLayers.maxPool(x, shape).y
                shape[1] /= 2
                shape[2] /= 2
            }
            if level >= 2 && level <= depth { x = normalization("enc\(level)", x, shape[3]) }
            (x, shape) = convolutions("enc\(level)", x, shape)
            if level <= depth { skips.append((x, shape)) }
        }
        for level in 1...depth {
            var upShape = [shape[0], shape[1] * 2, shape[2] * 2, shape[3]]
            let up: [Double]
            switch config.upsampling {
            case .transpose:
                let outChannels = config.decoderFilters(level)
                up = ReferenceLayers.transposedConvolution(x, shape, kernel: p("dec\(level).up.kernel"), outChannels: outChannels,
                                                           bias: p("dec\(level).up.bias"))
                upShape[3] = outChannels
            case .nearest:
                up = ReferenceLayers.upsample(x, shape)
            }
            let skip = skips[depth - level]
            x = ReferenceLayers.concat(up, channelsA: upShape[3], skip.0, channelsB: skip.1[3])
            shape = [upShape[0], upShape[1], upShape[2], upShape[3] + skip.1[3]]
            if level <= depth - 1 { x = normalization("dec\(level)", x, shape[3]) }
            (x, shape) = convolutions("dec\(level)", x, shape)
        }
        let logits = ReferenceLayers.convolution(x, shape, kernel: p("head.kernel"), kernelShape: [1, 1, shape[3], config.nClasses],
                                                 bias: p("head.bias"), relu: false)
        let loss = ReferenceLayers.loss(logits: logits, targets: targets, classes: config.nClasses, weights: config.classWeights,
                                        ignore: ignore).loss
        return (logits, loss)
    }
}
