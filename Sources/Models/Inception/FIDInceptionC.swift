// pytorch-fid `FIDInceptionC` (Mixed_6b..6e): torchvision's InceptionC (factorised 7x7 convolutions) with the
// pool branch's average pool not counting padded zeros.
import NN
import Tensor

public final class FIDInceptionC: @unchecked Sendable {
    let branch1x1: BasicConv2d
    let branch7x7_1: BasicConv2d
    let branch7x7_2: BasicConv2d
    let branch7x7_3: BasicConv2d
    let branch7x7dbl_1: BasicConv2d
    let branch7x7dbl_2: BasicConv2d
    let branch7x7dbl_3: BasicConv2d
    let branch7x7dbl_4: BasicConv2d
    let branch7x7dbl_5: BasicConv2d
    let branch_pool: BasicConv2d

    /// Output channels: 4 * 192.
    public let outChannels = 768

    public init(_ w: Weights, inChannels c: Int, channels7x7 c7: Int) throws {
        branch1x1 = try BasicConv2d(w.scope("branch1x1"), c, 192, kernelSize: 1)

        branch7x7_1 = try BasicConv2d(w.scope("branch7x7_1"), c, c7, kernelSize: 1)
        branch7x7_2 = try BasicConv2d(w.scope("branch7x7_2"), c7, c7, kernelSize: (1, 7), padding: (0, 3))
        branch7x7_3 = try BasicConv2d(w.scope("branch7x7_3"), c7, 192, kernelSize: (7, 1), padding: (3, 0))

        branch7x7dbl_1 = try BasicConv2d(w.scope("branch7x7dbl_1"), c, c7, kernelSize: 1)
        branch7x7dbl_2 = try BasicConv2d(w.scope("branch7x7dbl_2"), c7, c7, kernelSize: (7, 1), padding: (3, 0))
        branch7x7dbl_3 = try BasicConv2d(w.scope("branch7x7dbl_3"), c7, c7, kernelSize: (1, 7), padding: (0, 3))
        branch7x7dbl_4 = try BasicConv2d(w.scope("branch7x7dbl_4"), c7, c7, kernelSize: (7, 1), padding: (3, 0))
        branch7x7dbl_5 = try BasicConv2d(w.scope("branch7x7dbl_5"), c7, 192, kernelSize: (1, 7), padding: (0, 3))

        branch_pool = try BasicConv2d(w.scope("branch_pool"), c, 192, kernelSize: 1)
    }

    /// The four branch outputs before their final ReLU, in concatenation order.
    public func branches(_ x: Tensor) throws -> [Tensor] {
        let b1x1 = try branch1x1.preActivation(x)

        var b7x7 = try branch7x7_1(x)
        b7x7 = try branch7x7_2(b7x7)
        b7x7 = try branch7x7_3.preActivation(b7x7)

        var b7x7dbl = try branch7x7dbl_1(x)
        b7x7dbl = try branch7x7dbl_2(b7x7dbl)
        b7x7dbl = try branch7x7dbl_3(b7x7dbl)
        b7x7dbl = try branch7x7dbl_4(b7x7dbl)
        b7x7dbl = try branch7x7dbl_5.preActivation(b7x7dbl)

        // Patch: TensorFlow's average pool does not use the padded zeros in its average.
        let pooled = try x.avgPool2d(kernel: 3, stride: 1, padding: 1, countIncludePad: false)
        let bPool = try branch_pool.preActivation(pooled)
        return [b1x1, b7x7, b7x7dbl, bPool]
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try Tensor.concatChannels(branches(x), relu: true)
    }
}
