/// The arithmetic of the network's convolutions. `bf16` runs convolutions on bfloat16 sources
/// and weights while master weights, the loss and the optimizer stay in Float32.
public enum Precision: String, Sendable, CaseIterable {
    case f32, bf16
}
