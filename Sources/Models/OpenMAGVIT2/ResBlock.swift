// Open-MAGVIT2 `ResBlock` (src/Open_MAGVIT2/modules/diffusionmodules/improved_model.py), as the image tokenizer
// builds it (use_agn=False, use_conv_shortcut=False):
//   h = conv1(swish(norm1(x))); h = conv2(swish(norm2(h))); return h + (nin_shortcut(x) if in != out else x)
// Unlike taming's ResnetBlock, every convolution here is bias-free (conv1, conv2, nin_shortcut: bias=False).
// Each norm+swish pair is one fused kernel and the residual is added inside conv2.

import NN
import Tensor

public final class MAGVIT2ResBlock: @unchecked Sendable {
    public let inFilters: Int
    public let outFilters: Int
    let norm1: GroupNorm
    let norm2: GroupNorm
    let conv1: Conv2d
    let conv2: Conv2d
    let ninShortcut: Conv2d?

    public init(_ w: Weights, inFilters: Int, outFilters: Int) throws {
        self.inFilters = inFilters
        self.outFilters = outFilters
        norm1 = try GroupNorm(w.scope("norm1"), groups: 32, channels: inFilters, eps: 1e-6)
        norm2 = try GroupNorm(w.scope("norm2"), groups: 32, channels: outFilters, eps: 1e-6)
        conv1 = try Conv2d(w.scope("conv1"), inChannels: inFilters, outChannels: outFilters, kernelSize: 3,
                           padding: Padding2D(1), bias: false)
        conv2 = try Conv2d(w.scope("conv2"), inChannels: outFilters, outChannels: outFilters, kernelSize: 3,
                           padding: Padding2D(1), bias: false)
        ninShortcut = inFilters != outFilters
            ? try Conv2d(w.scope("nin_shortcut"), inChannels: inFilters, outChannels: outFilters, kernelSize: 1, bias: false)
            : nil
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        var h = try norm1(x, silu: true)
        h = try conv1(h)
        h = try norm2(h, silu: true)
        let residual = try ninShortcut.map { try $0(x) } ?? x
        return try conv2(h, residual: residual)
    }
}
