// torchvision `InceptionB` (Mixed_6a, unpatched by pytorch-fid): the 35x35 -> 17x17 reduction.
import NN
import Tensor

public final class InceptionB: @unchecked Sendable {
    let branch3x3: BasicConv2d
    let branch3x3dbl_1: BasicConv2d
    let branch3x3dbl_2: BasicConv2d
    let branch3x3dbl_3: BasicConv2d

    /// Output channels: 384 + 96 + inChannels.
    public let outChannels: Int

    public init(_ w: Weights, inChannels c: Int) throws {
        branch3x3 = try BasicConv2d(w.scope("branch3x3"), c, 384, kernelSize: 3, stride: 2)

        branch3x3dbl_1 = try BasicConv2d(w.scope("branch3x3dbl_1"), c, 64, kernelSize: 1)
        branch3x3dbl_2 = try BasicConv2d(w.scope("branch3x3dbl_2"), 64, 96, kernelSize: 3, padding: 1)
        branch3x3dbl_3 = try BasicConv2d(w.scope("branch3x3dbl_3"), 96, 96, kernelSize: 3, stride: 2)
        outChannels = 384 + 96 + c
    }

    /// Branch outputs before their final ReLU (the max-pool branch is already non-negative).
    public func branches(_ x: Tensor) throws -> [Tensor] {
        let b3x3 = try branch3x3.preActivation(x)

        var b3x3dbl = try branch3x3dbl_1(x)
        b3x3dbl = try branch3x3dbl_2(b3x3dbl)
        b3x3dbl = try branch3x3dbl_3.preActivation(b3x3dbl)

        let bPool = try x.maxPool2d(kernel: 3, stride: 2)
        return [b3x3, b3x3dbl, bPool]
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try Tensor.concatChannels(branches(x), relu: true)
    }
}
