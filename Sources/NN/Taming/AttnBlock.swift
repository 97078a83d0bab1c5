// AttnBlock: single-head self-attention over the H·W positions, with 1×1 convolutions for q, k, v and proj_out.
//   q, k, v = q(norm(x)), k(norm(x)), v(norm(x))               [b, c, hw] each
//   w_ = softmax(bmm(qᵀ, k) · c^-0.5, over keys)                [b, hw_q, hw_k]
//   h_ = bmm(v, w_ᵀ)                                            [b, c, hw_q]
//   return x + proj_out(h_)
import Tensor

public final class AttnBlock: @unchecked Sendable {
    public let channels: Int
    let norm: GroupNorm
    let q: Conv2d
    let k: Conv2d
    let v: Conv2d
    let projOut: Conv2d

    public init(_ w: Weights, channels: Int) throws {
        self.channels = channels
        norm = try Normalize(w.scope("norm"), channels)
        q = try Conv2d(w.scope("q"), inChannels: channels, outChannels: channels, kernelSize: 1)
        k = try Conv2d(w.scope("k"), inChannels: channels, outChannels: channels, kernelSize: 1)
        v = try Conv2d(w.scope("v"), inChannels: channels, outChannels: channels, kernelSize: 1)
        projOut = try Conv2d(w.scope("proj_out"), inChannels: channels, outChannels: channels, kernelSize: 1)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        let h_ = try norm(x)
        let (b, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        // [b, c, h, w] -> [b, c, hw]
        let q = try self.q(h_).plain().reshaped([b, c, h * w])
        let k = try self.k(h_).plain().reshaped([b, c, h * w])
        let v = try self.v(h_).plain().reshaped([b, c, h * w])
        // w_[b, i, j] = Σ_c q[b, c, i] k[b, c, j], scaled by int(c)^-0.5 (PyTorch: a float64 power, used as a
        // Python float, so the multiplier is the float32 rounding of 1/sqrt(c)).
        var w_ = try Tensor.matmul(q, k, transposeA: true, alpha: Float(1 / Double(c).squareRoot()))
        w_ = try w_.softmax()
        // h_[b, c, j] = Σ_i v[b, c, i] w_[b, j, i]
        let attended = try Tensor.matmul(v, w_, transposeB: true).reshaped([b, c, h, w])
        return try projOut(attended, residual: x)
    }
}
