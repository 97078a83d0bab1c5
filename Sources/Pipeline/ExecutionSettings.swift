// Execution settings recorded as text (reports, partial files) back to values.

import Tensor

public enum ExecutionSettings {
    /// The settings a report or partial file names (winograd / direct, fp32 / bf16).
    public static func parse(algorithm: String, precision: String) -> ExecutionConfig {
        ExecutionConfig(convolutionAlgorithm: ConvolutionKernel.Algorithm(rawValue: algorithm) ?? .direct,
                        precision: Precision(rawValue: precision) ?? .fp32)
    }
}
