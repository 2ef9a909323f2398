/// Why pixels could not be counted in a `ConfusionMatrix`: an id outside the matrix, buffers of
/// different lengths, or matrices of different sizes. The evaluator puts the file names in front.
public struct ConfusionMatrixError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    /// The offending id and its index in the buffer, when the error is about one pixel.
    public var id: UInt8?
    public var index: Int?

    public init(_ reason: String) { self.reason = reason }

    init(truthID id: UInt8, index: Int, classCount: Int) {
        reason = "truth id \(id) at index \(index) is not a class id (0–\(classCount - 1); 255 = no label)"
        self.id = id
        self.index = index
    }

    init(predictedID id: UInt8, index: Int, classCount: Int) {
        reason = "predicted id \(id) at index \(index) is not a class id (0–\(classCount - 1); 255 = nodata)"
        self.id = id
        self.index = index
    }

    public var description: String { reason }
}
