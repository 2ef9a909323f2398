/// The input patches of a stride-1 "same" convolution as the rows of a matrix (im2col): row p
/// holds the k×k input pixels around output pixel p in (tap row, tap column, channel) order,
/// zeros outside the image. Those are the rows of a kernel in (k, k, in, out) order, so the
/// convolution is this matrix times the kernel, and its kernel gradient this matrix transposed
/// times the output gradient.
struct PatchMatrix: Sendable {
    let batch: Int, height: Int, width: Int, channels: Int, kernelSize: Int

    /// One row per output pixel of the batch.
    var rows: Int { batch * height * width }
    /// k·k·channels.
    var columns: Int { kernelSize * kernelSize * channels }

    /// Writes rows `pixels` of the matrix (`rows` × `columns` floats, row-major) from `source`,
    /// the input in channel-last order (NHWC).
    func fill(_ matrix: UnsafeMutablePointer<Float>, from source: UnsafePointer<Float>, pixels: Range<Int>) {
        let row = columns, padding = (kernelSize - 1) / 2
        for pixel in pixels {
            let x = pixel % width, y = (pixel / width) % height, image = pixel / (width * height)
            for tapY in 0..<kernelSize {
                for tapX in 0..<kernelSize {
                    let target = matrix + pixel * row + (tapY * kernelSize + tapX) * channels
                    let sourceY = y + tapY - padding, sourceX = x + tapX - padding
                    if sourceY >= 0 && sourceY < height && sourceX >= 0 && sourceX < width {
                        target.update(from: source + ((image * height + sourceY) * width + sourceX) * channels, count: channels)
                    } else {
                        target.update(repeating: 0, count: channels)
                    }
                }
            }
        }
    }

    /// The adjoint of `fill`: for each input pixel in `pixels`, the sum of the entries of `matrix`
    /// (the gradients of the patch rows) that `fill` would have copied from it, into `gradient`
    /// (channel-last). Each pixel is written by its own call, so threads may split the pixels.
    func sumPatches(_ matrix: UnsafePointer<Float>, into gradient: UnsafeMutablePointer<Float>, pixels: Range<Int>) {
        let row = columns, padding = (kernelSize - 1) / 2
        for pixel in pixels {
            let x = pixel % width, y = (pixel / width) % height, image = pixel / (width * height)
            let target = gradient + pixel * channels
            target.update(repeating: 0, count: channels)
            // The output pixel whose tap (tapY, tapX) lies on this pixel.
            for tapY in 0..<kernelSize {
                let outputY = y - tapY + padding
                guard outputY >= 0 && outputY < height else { continue }
                for tapX in 0..<kernelSize {
                    let outputX = x - tapX + padding
                    guard outputX >= 0 && outputX < width else { continue }
                    let source = matrix + ((image * height + outputY) * width + outputX) * row + (tapY * kernelSize + tapX) * channels
                    for channel in 0..<channels { target[channel] += source[channel] }
                }
            }
        }
    }

    /// `memory` (a tensor of dims `dims`) in channel-last order: itself when it is already, else a
    /// new memory and the reorder that fills it, to run before each use.
    static func channelLast(_ memory: DNNLMemory, dims: [Int], engine: DNNLEngine) throws -> (memory: DNNLMemory, copy: PrimitiveCall?) {
        let plain = try MemoryDescriptor.nhwc(dims[0], dims[1], dims[2], dims[3])
        // A view's data pointer is its parent's start, so a view is always copied.
        if memory.descriptor.sameLayout(as: plain) && memory.descriptor.raw.offset0 == 0 { return (memory, nil) }
        let copy = try DNNLMemory(plain, engine: engine)
        return (copy, try PrimitiveCall.reorder(from: memory, to: copy, engine: engine))
    }
}
