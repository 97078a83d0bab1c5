// Open-MAGVIT2 `Encoder` (improved_model.py): conv_in (3x3, bias-free), then per level `num_res_blocks` ResBlocks
// and, except after the last level, `downsample` (a 3x3 stride-2 convolution with padding 1 and a bias: symmetric
// padding, unlike taming's (0, 1, 0, 1)); then `mid_block` (`num_res_blocks` ResBlocks), norm_out, swish and a
// 1x1 conv_out to z_channels. No attention anywhere.

import NN
import Tensor

public final class MAGVIT2Encoder: @unchecked Sendable {
    public let config: OpenMAGVIT2Config

    final class Level {
        var block: [MAGVIT2ResBlock] = []
        var downsample: Conv2d?
    }

    let convIn: Conv2d
    let down: [Level]
    let midBlock: [MAGVIT2ResBlock]
    let normOut: GroupNorm
    let convOut: Conv2d

    public init(_ w: Weights, config: OpenMAGVIT2Config) throws {
        try config.validate()
        self.config = config
        let ch = config.ch
        convIn = try Conv2d(w.scope("conv_in"), inChannels: config.inChannels, outChannels: ch, kernelSize: 3,
                            padding: Padding2D(1), bias: false)
        let inChMult = [1] + config.chMult
        var levels: [Level] = []
        var blockIn = ch, blockOut = ch
        for iLevel in 0..<config.chMult.count {
            let level = Level()
            let lw = w.scope("down").scope(iLevel)
            blockIn = ch * inChMult[iLevel]
            blockOut = ch * config.chMult[iLevel]
            for iBlock in 0..<config.numResBlocks {
                level.block.append(try MAGVIT2ResBlock(lw.scope("block").scope(iBlock), inFilters: blockIn, outFilters: blockOut))
                blockIn = blockOut
            }
            if iLevel < config.chMult.count - 1 {
                level.downsample = try Conv2d(lw.scope("downsample"), inChannels: blockOut, outChannels: blockOut,
                                              kernelSize: 3, stride: 2, padding: Padding2D(1))
            }
            levels.append(level)
        }
        down = levels
        midBlock = try (0..<config.numResBlocks).map {
            try MAGVIT2ResBlock(w.scope("mid_block").scope($0), inFilters: blockIn, outFilters: blockIn)
        }
        normOut = try GroupNorm(w.scope("norm_out"), groups: 32, channels: blockOut, eps: 1e-6)
        convOut = try Conv2d(w.scope("conv_out"), inChannels: blockOut, outChannels: config.zChannels, kernelSize: 1)
    }

    /// `x`: [N, in_channels, H, W]. Returns [N, z_channels, H/2^(L-1), W/2^(L-1)], plain layout.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard x.rank == 4, x.shape[1] == config.inChannels else {
            throw TensorError.shapeMismatch("encoder expects [N, \(config.inChannels), H, W], got \(x.shape)")
        }
        var h = try convIn(x)
        for level in down {
            for block in level.block { h = try block(h) }
            if let ds = level.downsample { h = try ds(h) }
        }
        for block in midBlock { h = try block(h) }
        h = try normOut(h, silu: true)
        return try convOut(h).plain()
    }
}
