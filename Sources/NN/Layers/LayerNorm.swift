// torch.nn.LayerNorm over the last dimension (elementwise affine). Keys: `weight` [D], `bias` [D].
import Tensor

public final class LayerNorm: @unchecked Sendable {
    public let dimension: Int
    public let eps: Float
    public let weight: [Float]
    public let bias: [Float]

    public init(_ w: Weights, dimension: Int, eps: Float = 1e-5) throws {
        guard dimension > 0 else { throw WeightError.invalidConfiguration("LayerNorm(\(dimension)) at '\(w.prefix)'") }
        self.dimension = dimension
        self.eps = eps
        weight = try w.tensor("weight", shape: [dimension])
        bias = try w.tensor("bias", shape: [dimension])
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try x.layerNorm(gamma: weight, beta: bias, eps: eps)
    }
}
