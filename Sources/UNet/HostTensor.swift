/// A tensor in ordinary memory: a shape and its Float32 values in row-major order. This is how
/// parameters cross the module's boundary (to model files, to tests), in Keras's layouts.
public struct HostTensor: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        precondition(values.count == shape.reduce(1, *), "tensor values do not match shape \(shape)")
        self.shape = shape
        self.values = values
    }

    public init(shape: [Int], repeating value: Float = 0) {
        self.init(shape: shape, values: [Float](repeating: value, count: shape.reduce(1, *)))
    }

    public var count: Int { values.count }
}
