// ResnetBlock without a timestep embedding (temb_channels = 0), as the VQ encoders and decoders use it:
//   h = conv1(swish(norm1(x))); h = conv2(swish(norm2(h)))      (dropout is the identity at inference)
//   return shortcut(x) + h        with shortcut = nin_shortcut (1×1 conv) when in != out, else identity.
// Each norm+swish pair is one fused kernel, and `+ h` happens inside conv2 (oneDNN sum post-op).
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
        return try conv2(h, residual: shortcut)
    }
}
