// pytorch-fid `FIDInceptionE_1` (Mixed_7b) and `FIDInceptionE_2` (Mixed_7c): torchvision's InceptionE (expanded
// filter bank) with two patches: E_1's pool branch averages without the padded zeros, and E_2's pool branch uses
// a max pool ("likely an error in this specific Inception implementation", pytorch-fid's comment; the TF graph
// that the weights come from does it).
import NN
import Tensor

public final class FIDInceptionE: @unchecked Sendable {
    /// How the pool branch pools its input before its 1x1 convolution.
    public enum PoolBranch: Sendable {
        /// FIDInceptionE_1: avg_pool2d(3, 1, 1, count_include_pad=False).
        case average
        /// FIDInceptionE_2: max_pool2d(3, 1, 1).
        case max
    }

    let branch1x1: BasicConv2d
    let branch3x3_1: BasicConv2d
    let branch3x3_2a: BasicConv2d
    let branch3x3_2b: BasicConv2d
    let branch3x3dbl_1: BasicConv2d
    let branch3x3dbl_2: BasicConv2d
    let branch3x3dbl_3a: BasicConv2d
    let branch3x3dbl_3b: BasicConv2d
    let branch_pool: BasicConv2d
    let pool: PoolBranch

    /// Output channels: 320 + 2 * 384 + 2 * 384 + 192.
    public let outChannels = 2048

    public init(_ w: Weights, inChannels c: Int, pool: PoolBranch) throws {
        self.pool = pool
        branch1x1 = try BasicConv2d(w.scope("branch1x1"), c, 320, kernelSize: 1)

        branch3x3_1 = try BasicConv2d(w.scope("branch3x3_1"), c, 384, kernelSize: 1)
        branch3x3_2a = try BasicConv2d(w.scope("branch3x3_2a"), 384, 384, kernelSize: (1, 3), padding: (0, 1))
        branch3x3_2b = try BasicConv2d(w.scope("branch3x3_2b"), 384, 384, kernelSize: (3, 1), padding: (1, 0))

        branch3x3dbl_1 = try BasicConv2d(w.scope("branch3x3dbl_1"), c, 448, kernelSize: 1)
        branch3x3dbl_2 = try BasicConv2d(w.scope("branch3x3dbl_2"), 448, 384, kernelSize: 3, padding: 1)
        branch3x3dbl_3a = try BasicConv2d(w.scope("branch3x3dbl_3a"), 384, 384, kernelSize: (1, 3), padding: (0, 1))
        branch3x3dbl_3b = try BasicConv2d(w.scope("branch3x3dbl_3b"), 384, 384, kernelSize: (3, 1), padding: (1, 0))

        branch_pool = try BasicConv2d(w.scope("branch_pool"), c, 192, kernelSize: 1)
    }

    /// The six concatenated pieces before their final ReLU, in order: 1x1, 3x3 [2a, 2b], 3x3dbl [3a, 3b], pool.
    public func branches(_ x: Tensor) throws -> [Tensor] {
        let b1x1 = try branch1x1.preActivation(x)

        let b3x3 = try branch3x3_1(x)
        let b3x3a = try branch3x3_2a.preActivation(b3x3)
        let b3x3b = try branch3x3_2b.preActivation(b3x3)

        var b3x3dbl = try branch3x3dbl_1(x)
        b3x3dbl = try branch3x3dbl_2(b3x3dbl)
        let b3x3dblA = try branch3x3dbl_3a.preActivation(b3x3dbl)
        let b3x3dblB = try branch3x3dbl_3b.preActivation(b3x3dbl)

        let pooled: Tensor
        switch pool {
        case .average:
            // Patch: TensorFlow's average pool does not use the padded zeros in its average.
            pooled = try x.avgPool2d(kernel: 3, stride: 1, padding: 1, countIncludePad: false)
        case .max:
            // Patch: the FID Inception model uses max pooling instead of average pooling here.
            pooled = try x.maxPool2d(kernel: 3, stride: 1, padding: 1)
        }
        let bPool = try branch_pool.preActivation(pooled)
        return [b1x1, b3x3a, b3x3b, b3x3dblA, b3x3dblB, bPool]
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try Tensor.concatChannels(branches(x), relu: true)
    }
}
