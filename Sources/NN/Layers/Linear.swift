// torch.nn.Linear. Keys: `weight` [out, in], `bias` [out].
import Tensor

public final class Linear: @unchecked Sendable {
    public let inFeatures: Int
    public let outFeatures: Int
    public let kernel: LinearKernel

    public init(_ w: Weights, inFeatures: Int, outFeatures: Int, bias: Bool = true) throws {
        guard inFeatures > 0, outFeatures > 0 else {
            throw WeightError.invalidConfiguration("Linear \(inFeatures)->\(outFeatures) at '\(w.prefix)'")
        }
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        let weight = try w.tensor("weight", shape: [outFeatures, inFeatures])
        let b = bias ? try w.tensor("bias", shape: [outFeatures]) : nil
        kernel = try LinearKernel(weight: weight, outFeatures: outFeatures, inFeatures: inFeatures, bias: b,
                                  execution: w.execution)
    }

    /// y = x·Wᵀ + b over the last dimension (+ residual, added inside the matmul).
    public func callAsFunction(_ x: Tensor, residual: Tensor? = nil) throws -> Tensor {
        try kernel(x, residual: residual)
    }
}
