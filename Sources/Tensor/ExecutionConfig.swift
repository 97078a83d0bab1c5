// How a model's kernels compute, given to each kernel when it is built (the NN weight scope carries it to every
// layer, as candle's VarBuilder carries dtype and device), never read from process-wide state: two models in one
// process may run with different settings, and what a model computes is decided by what it was built with.

public struct ExecutionConfig: Sendable, Hashable {
    /// The algorithm of 3×3 stride-1 convolutions (ConvolutionKernel.Algorithm).
    public var convolutionAlgorithm: ConvolutionKernel.Algorithm
    /// Operand precision of convolutions, linear layers and attention matmuls (Precision.swift).
    public var precision: Precision
    /// bf16 only: round every conv / linear / matmul output to bfloat16 as autocast's bf16 outputs are
    /// (Precision.swift explains why this is off by default).
    public var roundsBFloat16Outputs: Bool
    /// Nearest ×2 upsampling followed by a 3×3 convolution runs as one transposed convolution (NN/Taming/Upsample).
    public var fusesUpsampling: Bool
    /// vqrt's own Winograd kernel also where oneDNN has one (AVX-512 CPUs): lets tests check it on any CPU.
    public var ownWinogradEverywhere: Bool
    /// Largest in × out channel product whose Winograd-transformed kernels are kept (4× the plain kernels);
    /// larger layers use oneDNN's direct kernels, or vqrt's own Winograd with kernels transformed on each call.
    public var winogradMaximumChannelProduct: Int
    /// One line on stderr per convolution plan made (diagnostics: shapes, implementation, scratchpad).
    public var tracesConvolutionPlans: Bool

    public init(convolutionAlgorithm: ConvolutionKernel.Algorithm = .winograd, precision: Precision = .fp32,
                roundsBFloat16Outputs: Bool = false, fusesUpsampling: Bool = true, ownWinogradEverywhere: Bool = false,
                winogradMaximumChannelProduct: Int = 256 * 256, tracesConvolutionPlans: Bool = false) {
        self.convolutionAlgorithm = convolutionAlgorithm
        self.precision = precision
        self.roundsBFloat16Outputs = roundsBFloat16Outputs
        self.fusesUpsampling = fusesUpsampling
        self.ownWinogradEverywhere = ownWinogradEverywhere
        self.winogradMaximumChannelProduct = winogradMaximumChannelProduct
        self.tracesConvolutionPlans = tracesConvolutionPlans
    }

    /// What the command line runs by default: Winograd where it applies, float32.
    public static let `default` = ExecutionConfig()

    /// PyTorch's own arithmetic: direct convolutions in float32, nothing fused. The metric networks (Inception,
    /// LPIPS backbones) always run this way: their outputs are compared with the reference tools' at 1e-4 and
    /// must not depend on the options of the model being measured.
    public static let reference = ExecutionConfig(convolutionAlgorithm: .direct, precision: .fp32, fusesUpsampling: false)

    /// This configuration with another algorithm / precision.
    public func with(algorithm: ConvolutionKernel.Algorithm) -> ExecutionConfig {
        var c = self; c.convolutionAlgorithm = algorithm; return c
    }
    public func with(precision: Precision) -> ExecutionConfig {
        var c = self; c.precision = precision; return c
    }

    /// The algorithm the 3×3 convolutions really use: oneDNN has no bf16 Winograd, so bf16 is always direct.
    public var effectiveConvolutionAlgorithm: ConvolutionKernel.Algorithm {
        precision == .bf16 ? .direct : convolutionAlgorithm
    }
}
