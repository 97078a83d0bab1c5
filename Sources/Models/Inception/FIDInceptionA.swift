// pytorch-fid `FIDInceptionA` (Mixed_5b, Mixed_5c, Mixed_5d): torchvision's InceptionA with the pool branch's
// average pool not counting padded zeros (TensorFlow semantics: count_include_pad=False).
import NN
import Tensor

public final class FIDInceptionA: @unchecked Sendable {
    let branch1x1: BasicConv2d
    let branch5x5_1: BasicConv2d
    let branch5x5_2: BasicConv2d
    let branch3x3dbl_1: BasicConv2d
    let branch3x3dbl_2: BasicConv2d
    let branch3x3dbl_3: BasicConv2d
    let branch_pool: BasicConv2d

    /// Output channels: 64 + 64 + 96 + poolFeatures.
    public let outChannels: Int

    public init(_ w: Weights, inChannels c: Int, poolFeatures: Int) throws {
        branch1x1 = try BasicConv2d(w.scope("branch1x1"), c, 64, kernelSize: 1)

        branch5x5_1 = try BasicConv2d(w.scope("branch5x5_1"), c, 48, kernelSize: 1)
        branch5x5_2 = try BasicConv2d(w.scope("branch5x5_2"), 48, 64, kernelSize: 5, padding: 2)

        branch3x3dbl_1 = try BasicConv2d(w.scope("branch3x3dbl_1"), c, 64, kernelSize: 1)
        branch3x3dbl_2 = try BasicConv2d(w.scope("branch3x3dbl_2"), 64, 96, kernelSize: 3, padding: 1)
        branch3x3dbl_3 = try BasicConv2d(w.scope("branch3x3dbl_3"), 96, 96, kernelSize: 3, padding: 1)

        branch_pool = try BasicConv2d(w.scope("branch_pool"), c, poolFeatures, kernelSize: 1)
        outChannels = 64 + 64 + 96 + poolFeatures
    }

    /// The four branch outputs before their final ReLU, in concatenation order.
    public func branches(_ x: Tensor) throws -> [Tensor] {
        let b1x1 = try branch1x1.preActivation(x)

        let b5x5 = try branch5x5_2.preActivation(branch5x5_1(x))

        var b3x3dbl = try branch3x3dbl_1(x)
        b3x3dbl = try branch3x3dbl_2(b3x3dbl)
        b3x3dbl = try branch3x3dbl_3.preActivation(b3x3dbl)

        // Patch: TensorFlow's average pool does not use the padded zeros in its average.
        let pooled = try x.avgPool2d(kernel: 3, stride: 1, padding: 1, countIncludePad: false)
        let bPool = try branch_pool.preActivation(pooled)
        return [b1x1, b5x5, b3x3dbl, bPool]
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try Tensor.concatChannels(branches(x), relu: true)
    }
}
