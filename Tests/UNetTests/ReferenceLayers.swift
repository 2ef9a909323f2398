import Foundation

/// Plain-Swift Float64 versions of every layer, NHWC, written for clarity: the yardstick for
/// oneDNN's results and, through finite differences, for their own gradients.
enum ReferenceLayers {
    /// 2-D "same" convolution, stride 1, kernel in Keras layout [kh, kw, in, out].
    static func convolution(_ x: [Double], _ shape: [Int], kernel: [Double], kernelShape: [Int], bias: [Double], relu: Bool) -> [Double] {
        let (n, h, w, c) = (shape[0], shape[1], shape[2], shape[3])
        let (kh, kw, o) = (kernelShape[0], kernelShape[1], kernelShape[3])
        let (ph, pw) = ((kh - 1) / 2, (kw - 1) / 2)
        var y = [Double](repeating: 0, count: n * h * w * o)
        for b in 0..<n { for r in 0..<h { for col in 0..<w { for oc in 0..<o {
            var sum = bias[oc]
            for i in 0..<kh { for j in 0..<kw {
                let (rr, cc) = (r + i - ph, col + j - pw)
                guard rr >= 0, rr < h, cc >= 0, cc < w else { continue }
                for ic in 0..<c { sum += x[((b * h + rr) * w + cc) * c + ic] * kernel[((i * kw + j) * c + ic) * o + oc] }
            } }
            y[((b * h + r) * w + col) * o + oc] = relu ? max(sum, 0) : sum
        } } } }
        return y
    }

    /// Gradients of `convolution` given its output `y` and the output gradient `dy`.
    static func convolutionBackward(_ x: [Double], _ shape: [Int], kernel: [Double], kernelShape: [Int], y: [Double], dy: [Double],
                                    relu: Bool) -> (dx: [Double], dKernel: [Double], dBias: [Double]) {
        let (n, h, w, c) = (shape[0], shape[1], shape[2], shape[3])
        let (kh, kw, o) = (kernelShape[0], kernelShape[1], kernelShape[3])
        let (ph, pw) = ((kh - 1) / 2, (kw - 1) / 2)
        var dx = [Double](repeating: 0, count: x.count)
        var dk = [Double](repeating: 0, count: kernel.count)
        var db = [Double](repeating: 0, count: o)
        for b in 0..<n { for r in 0..<h { for col in 0..<w { for oc in 0..<o {
            let index = ((b * h + r) * w + col) * o + oc
            let dz = relu && y[index] <= 0 ? 0 : dy[index]
            if dz == 0 { continue }
            db[oc] += dz
            for i in 0..<kh { for j in 0..<kw {
                let (rr, cc) = (r + i - ph, col + j - pw)
                guard rr >= 0, rr < h, cc >= 0, cc < w else { continue }
                for ic in 0..<c {
                    let xi = ((b * h + rr) * w + cc) * c + ic
                    let ki = ((i * kw + j) * c + ic) * o + oc
                    dx[xi] += dz * kernel[ki]
                    dk[ki] += dz * x[xi]
                }
            } }
        } } } }
        return (dx, dk, db)
    }

    /// Keras Conv2DTranspose 2×2 stride 2, kernel [2, 2, out, in]: y[2r+i, 2c+j, o] = b[o] + Σ x[r, c, ch]·K[i, j, o, ch].
    static func transposedConvolution(_ x: [Double], _ shape: [Int], kernel: [Double], outChannels o: Int, bias: [Double]) -> [Double] {
        let (n, h, w, c) = (shape[0], shape[1], shape[2], shape[3])
        var y = [Double](repeating: 0, count: n * 4 * h * w * o)
        for b in 0..<n { for r in 0..<h { for col in 0..<w { for i in 0..<2 { for j in 0..<2 { for oc in 0..<o {
            var sum = bias[oc]
            for ic in 0..<c { sum += x[((b * h + r) * w + col) * c + ic] * kernel[((i * 2 + j) * o + oc) * c + ic] }
            y[((b * 2 * h + 2 * r + i) * 2 * w + 2 * col + j) * o + oc] = sum
        } } } } } }
        return y
    }

    static func transposedConvolutionBackward(_ x: [Double], _ shape: [Int], kernel: [Double], outChannels o: Int,
                                              dy: [Double]) -> (dx: [Double], dKernel: [Double], dBias: [Double]) {
        let (n, h, w, c) = (shape[0], shape[1], shape[2], shape[3])
        var dx = [Double](repeating: 0, count: x.count)
        var dk = [Double](repeating: 0, count: kernel.count)
        var db = [Double](repeating: 0, count: o)
        for b in 0..<n { for r in 0..<h { for col in 0..<w { for i in 0..<2 { for j in 0..<2 { for oc in 0..<o {
            let g = dy[((b * 2 * h + 2 * r + i) * 2 * w + 2 * col + j) * o + oc]
            db[oc] += g
            for ic in 0..<c {
                let xi = ((b * h + r) * w + col) * c + ic
                let ki = ((i * 2 + j) * o + oc) * c + ic
                dx[xi] += g * kernel[ki]
                dk[ki] += g * x[xi]
            }
        } } } } } }
        return (dx, dk, db)
    }

    static func upsample(_ x: [Double], _ shape: [Int]) -> [Double] {
        let (n, h, w, c) = (shape[0], shape[1], shape[2], shape[3])
        var y = [Double](repeating: 0, count: x.count * 4)
        for b in 0..<n { for r in 0..<(2 * h) { for col in 0..<(2 * w) { for ch in 0..<c {
            y[((b * 2 * h + r) * 2 * w + col) * c + ch] = x[((b * h + r / 2) * w + col / 2) * c + ch]
        } } } }
        return y
    }

    static func upsampleBackward(_ dy: [Double], _ shape: [Int]) -> [Double] {
        let (n, h, w, c) = (shape[0], shape[1], shape[2], shape[3])
        var dx = [Double](repeating: 0, count: dy.count / 4)
        for b in 0..<n { for r in 0..<(2 * h) { for col in 0..<(2 * w) { for ch in 0..<c {
            dx[((b * h + r / 2) * w + col / 2) * c + ch] += dy[((b * 2 * h + r) * 2 * w + col) * c + ch]
        } } } }
        return dx
    }

    /// Max pooling 2×2 stride 2; also returns, for every output, the input index of its maximum.
    static func maxPool(_ x: [Double], _ shape: [Int]) -> (y: [Double], argmax: [Int]) {
        let (n, h, w, c) = (shape[0], shape[1], shape[2], shape[3])
        var y = [Double](repeating: 0, count: n * (h / 2) * (w / 2) * c)
        var argmax = [Int](repeating: 0, count: y.count)
        for b in 0..<n { for r in 0..<(h / 2) { for col in 0..<(w / 2) { for ch in 0..<c {
            var best = -Double.infinity
            var bestIndex = 0
            for i in 0..<2 { for j in 0..<2 {
                let index = ((b * h + 2 * r + i) * w + 2 * col + j) * c + ch
                if x[index] > best { best = x[index]; bestIndex = index }
            } }
            let o = ((b * (h / 2) + r) * (w / 2) + col) * c + ch
            y[o] = best
            argmax[o] = bestIndex
        } } } }
        return (y, argmax)
    }

    static func maxPoolBackward(_ dy: [Double], argmax: [Int], inputCount: Int) -> [Double] {
        var dx = [Double](repeating: 0, count: inputCount)
        for (o, index) in argmax.enumerated() { dx[index] += dy[o] }
        return dx
    }

    /// Batch normalisation in training mode: batch mean and biased variance over N, H, W.
    static func batchNorm(_ x: [Double], channels c: Int, gamma: [Double], beta: [Double], epsilon: Double = 1e-3)
        -> (y: [Double], mean: [Double], variance: [Double]) {
        let m = Double(x.count / c)
        var mean = [Double](repeating: 0, count: c)
        var variance = [Double](repeating: 0, count: c)
        for (i, v) in x.enumerated() { mean[i % c] += v / m }
        for (i, v) in x.enumerated() { variance[i % c] += (v - mean[i % c]) * (v - mean[i % c]) / m }
        let y = x.enumerated().map { i, v in
            gamma[i % c] * (v - mean[i % c]) / (variance[i % c] + epsilon).squareRoot() + beta[i % c]
        }
        return (y, mean, variance)
    }

    static func batchNormBackward(_ x: [Double], channels c: Int, gamma: [Double], dy: [Double], epsilon: Double = 1e-3)
        -> (dx: [Double], dGamma: [Double], dBeta: [Double]) {
        let (_, mean, variance) = batchNorm(x, channels: c, gamma: gamma, beta: [Double](repeating: 0, count: c), epsilon: epsilon)
        let m = Double(x.count / c)
        var dGamma = [Double](repeating: 0, count: c)
        var dBeta = [Double](repeating: 0, count: c)
        for i in 0..<x.count {
            let ch = i % c
            let normalized = (x[i] - mean[ch]) / (variance[ch] + epsilon).squareRoot()
            dGamma[ch] += dy[i] * normalized
            dBeta[ch] += dy[i]
        }
        let dx = (0..<x.count).map { i -> Double in
            let ch = i % c
            let invStd = 1 / (variance[ch] + epsilon).squareRoot()
            let normalized = (x[i] - mean[ch]) * invStd
            return gamma[ch] * invStd * (dy[i] - dBeta[ch] / m - normalized * dGamma[ch] / m)
        }
        return (dx, dGamma, dBeta)
    }

    /// Channel concatenation, first's channels first.
    static func concat(_ a: [Double], channelsA: Int, _ b: [Double], channelsB: Int) -> [Double] {
        let pixels = a.count / channelsA
        var y: [Double] = []
        y.reserveCapacity(a.count + b.count)
        for p in 0..<pixels {
            y += a[(p * channelsA)..<((p + 1) * channelsA)]
            y += b[(p * channelsB)..<((p + 1) * channelsB)]
        }
        return y
    }

    static func concatBackward(_ dy: [Double], channelsA: Int, channelsB: Int) -> (da: [Double], db: [Double]) {
        let total = channelsA + channelsB
        let pixels = dy.count / total
        var da: [Double] = []
        var db: [Double] = []
        for p in 0..<pixels {
            da += dy[(p * total)..<(p * total + channelsA)]
            db += dy[(p * total + channelsA)..<((p + 1) * total)]
        }
        return (da, db)
    }

    /// Σ_c w_c · mean over non-ignored pixels of the binary cross-entropy from logits, and its gradient.
    static func loss(logits z: [Double], targets y: [Double], classes: Int, weights: [Double], ignore: [Double]?) -> (loss: Double, dz: [Double]) {
        let pixels = z.count / classes
        let counted = Double(ignore.map { $0.filter { $0 == 0 }.count } ?? pixels)
        var total = 0.0
        var dz = [Double](repeating: 0, count: z.count)
        guard counted > 0 else { return (0, dz) }
        for p in 0..<pixels where (ignore?[p] ?? 0) == 0 {
            for c in 0..<classes {
                let i = p * classes + c
                total += weights[c] / counted * (max(z[i], 0) - z[i] * y[i] + log1p(exp(-abs(z[i]))))
                dz[i] = weights[c] / counted * (1 / (1 + exp(-z[i])) - y[i])
            }
        }
        return (total, dz)
    }
}
