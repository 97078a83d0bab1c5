// ResnetBlock without a timestep embedding (temb_channels = 0), as the VQ encoders and decoders use it:
//   h = conv1(swish(norm1(x))); h = conv2(swish(norm2(h)))      (dropout is the identity at inference)
//   return shortcut(x) + h        with shortcut = nin_shortcut (1×1 conv) when in != out, else identity.
// Each norm+swish pair is one fused kernel. `shortcut + h` is a separate addition after conv2, as in PyTorch, not
// conv2's oneDNN sum post-op: oneDNN's jit convolutions (measured on AVX2) start their accumulators from the
// residual, so all 9·C products are rounded at the residual's magnitude; on ResnetBlock(32->64) that made the
// block's largest error 5.3x PyTorch's own float32 error (1.7x with the separate addition; Fixtures/nn).
import Tensor

public final class ResnetBlock: @unchecked Sendable {
    public let inChannels: Int
    public let outChannels: Int
    let norm1: GroupNorm
    let conv1: Conv2d
    let norm2: GroupNorm
    let conv2: Conv2d
    let ninShortcut: Conv2d?

    public init(_ w: Weights, inChannels: Int, outChannels: Int? = nil) throws {
        let out = outChannels ?? inChannels
        self.inChannels = inChannels
        self.outChannels = out
        norm1 = try Normalize(w.scope("norm1"), inChannels)
        conv1 = try Conv2d(w.scope("conv1"), inChannels: inChannels, outChannels: out, kernelSize: 3, padding: Padding2D(1))
        norm2 = try Normalize(w.scope("norm2"), out)
        conv2 = try Conv2d(w.scope("conv2"), inChannels: out, outChannels: out, kernelSize: 3, padding: Padding2D(1))
        // conv_shortcut=False in every VQ config, so a channel change goes through the 1×1 nin_shortcut.
        ninShortcut = inChannels != out
            ? try Conv2d(w.scope("nin_shortcut"), inChannels: inChannels, outChannels: out, kernelSize: 1) : nil
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        var h = try norm1(x, silu: true)
        h = try conv1(h)
        h = try norm2(h, silu: true)
        let shortcut = try ninShortcut.map { try $0(x) } ?? x
        return try conv2(h).adding(shortcut)
    }
}
