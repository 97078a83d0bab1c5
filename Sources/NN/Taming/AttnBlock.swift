// AttnBlock: single-head self-attention over the H·W positions, with 1×1 convolutions for q, k, v and proj_out.
//   h_ = norm(x);  q, k, v = q(h_), k(h_), v(h_)                 [b, c, hw] each
//   w_ = softmax(bmm(qᵀ, k) · int(c)^-0.5, over keys)           [b, hw_q, hw_k]
//   h_ = bmm(v, w_ᵀ)                                             [b, c, hw_q]
//   return x + proj_out(h_)
// q, k and v are three 1×1 convolutions of the same input, so they run as one convolution with 3c outputs
// (the same dot products per output channel), written channels-last so that the two matmuls read q, k and v
// in place and the result feeds proj_out without a transpose. The residual add happens inside proj_out.
import Tensor

public final class AttnBlock: @unchecked Sendable {
    public let channels: Int
    let norm: GroupNorm
    /// q | k | v stacked along the output channels: weight [3c, c, 1, 1], bias [3c].
    let qkv: ConvolutionKernel
    let projOut: Conv2d
    let execution: ExecutionConfig

    public init(_ w: Weights, channels c: Int) throws {
        channels = c
        norm = try Normalize(w.scope("norm"), c)
        var weight: [Float] = [], bias: [Float] = []
        for name in ["q", "k", "v"] {
            weight += try w.scope(name).tensor("weight", shape: [c, c, 1, 1])
            bias += try w.scope(name).tensor("bias", shape: [c])
        }
        qkv = try ConvolutionKernel(weight: weight, shape: [3 * c, c, 1, 1], bias: bias, execution: w.execution)
        execution = w.execution
        projOut = try Conv2d(w.scope("proj_out"), inChannels: c, outChannels: c, kernelSize: 1)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard x.rank == 4, x.shape[1] == channels else {
            throw TensorError.shapeMismatch("AttnBlock(\(channels)) expects [N, \(channels), H, W], got \(x.shape)")
        }
        let h_ = try norm(x)
        let qkvOut = try qkv(h_, layout: .nhwc)
        // PyTorch scales by `int(c)**(-0.5)`, a Python float applied to a float32 tensor: float32(1/sqrt(c)).
        let attended = try Tensor.spatialAttention(qkv: qkvOut, scale: Float(1 / Double(channels).squareRoot()),
                                                   precision: execution.precision,
                                                   roundsBFloat16Outputs: execution.roundsBFloat16Outputs)
        return try projOut(attended, residual: x)
    }
}
