// torch.nn.GroupNorm (affine). Keys: `weight` [C], `bias` [C].
import Tensor

public final class GroupNorm: @unchecked Sendable {
    public let groups: Int
    public let channels: Int
    public let eps: Float
    public let weight: [Float]
    public let bias: [Float]

    public init(_ w: Weights, groups: Int, channels: Int, eps: Float = 1e-5) throws {
        guard groups > 0, channels > 0, channels % groups == 0 else {
            throw WeightError.invalidConfiguration("GroupNorm(\(groups), \(channels)) at '\(w.prefix)': channels must divide into groups")
        }
        self.groups = groups
        self.channels = channels
        self.eps = eps
        weight = try w.tensor("weight", shape: [channels])
        bias = try w.tensor("bias", shape: [channels])
    }

    /// Normalises `x` ([N, C, ...]); `silu` fuses the swish nonlinearity that usually follows.
    public func callAsFunction(_ x: Tensor, silu: Bool = false) throws -> Tensor {
        try x.groupNorm(groups: groups, gamma: weight, beta: bias, eps: eps, silu: silu)
    }
}
