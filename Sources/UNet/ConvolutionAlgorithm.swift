/// How the 3×3 convolutions are computed, in inference and in training (there with their input,
/// kernel and bias gradients).
public enum ConvolutionAlgorithm: String, Sendable, CaseIterable {
    /// oneDNN's direct convolution everywhere.
    case direct
    /// Winograd F(4×4, 3×3) on the levels where it is expected to be faster (8-channel-blocked f32
    /// activations, at least 8×8 pixels), and on CPUs with AVX2 but not AVX-512 the convolutions
    /// of images of at most 25 pixels (forward and input gradient) as matrix products of their
    /// patches; direct elsewhere.
    /// It differs from direct by rounding only: about 1e-6 of the activations' scale per layer.
    case winograd
}
