// torchvision `InceptionD` (Mixed_7a, unpatched by pytorch-fid): the 17x17 -> 8x8 reduction.
import NN
import Tensor

public final class InceptionD: @unchecked Sendable {
    let branch3x3_1: BasicConv2d
    let branch3x3_2: BasicConv2d
    let branch7x7x3_1: BasicConv2d
    let branch7x7x3_2: BasicConv2d
    let branch7x7x3_3: BasicConv2d
    let branch7x7x3_4: BasicConv2d

    /// Output channels: 320 + 192 + inChannels.
    public let outChannels: Int

    public init(_ w: Weights, inChannels c: Int) throws {
        branch3x3_1 = try BasicConv2d(w.scope("branch3x3_1"), c, 192, kernelSize: 1)
        branch3x3_2 = try BasicConv2d(w.scope("branch3x3_2"), 192, 320, kernelSize: 3, stride: 2)

        branch7x7x3_1 = try BasicConv2d(w.scope("branch7x7x3_1"), c, 192, kernelSize: 1)
        branch7x7x3_2 = try BasicConv2d(w.scope("branch7x7x3_2"), 192, 192, kernelSize: (1, 7), padding: (0, 3))
        branch7x7x3_3 = try BasicConv2d(w.scope("branch7x7x3_3"), 192, 192, kernelSize: (7, 1), padding: (3, 0))
        branch7x7x3_4 = try BasicConv2d(w.scope("branch7x7x3_4"), 192, 192, kernelSize: 3, stride: 2)
        outChannels = 320 + 192 + c
    }

    /// Branch outputs before their final ReLU (the max-pool branch is already non-negative).
    public func branches(_ x: Tensor) throws -> [Tensor] {
        var b3x3 = try branch3x3_1(x)
        b3x3 = try branch3x3_2.preActivation(b3x3)

        var b7x7x3 = try branch7x7x3_1(x)
        b7x7x3 = try branch7x7x3_2(b7x7x3)
        b7x7x3 = try branch7x7x3_3(b7x7x3)
        b7x7x3 = try branch7x7x3_4.preActivation(b7x7x3)

        let bPool = try x.maxPool2d(kernel: 3, stride: 2)
        return [b3x3, b7x7x3, bPool]
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try Tensor.concatChannels(branches(x), relu: true)
    }
}
