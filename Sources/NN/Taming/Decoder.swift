// Decoder: conv_in (z -> block_in), the middle (block_1, attn_1, block_2), then resolution levels from the
// lowest (`up.{L-1}`, run first) to the highest (`up.0`, run last), each with `num_res_blocks + 1` ResnetBlocks
// (and AttnBlocks at the attention resolutions) and an Upsample except at level 0; then norm_out, swish,
// conv_out, and tanh only if `tanh_out`.
import Tensor

public final class Decoder: @unchecked Sendable {
    public let config: TamingConfig

    final class Level {
        var block: [ResnetBlock] = []
        var attn: [AttnBlock] = []
        var upsample: Upsample?
    }

    let convIn: Conv2d
    let midBlock1: ResnetBlock
    let midAttn1: AttnBlock?
    let midBlock2: ResnetBlock
    /// Indexed by resolution level, like `self.up` (built with `insert(0, ...)`): `up[0]` is the highest resolution.
    let up: [Level]
    let normOut: GroupNorm
    let convOut: Conv2d

    public init(_ w: Weights, config: TamingConfig) throws {
        try config.validate()
        self.config = config
        let ch = config.ch, levels = config.chMult.count
        var blockIn = ch * config.chMult[levels - 1]
        var currRes = config.resolution >> (levels - 1)
        convIn = try Conv2d(w.scope("conv_in"), inChannels: config.zChannels, outChannels: blockIn, kernelSize: 3,
                            padding: Padding2D(1))
        let mid = w.scope("mid")
        midBlock1 = try ResnetBlock(mid.scope("block_1"), inChannels: blockIn, outChannels: blockIn)
        midAttn1 = config.attnType == .vanilla ? try AttnBlock(mid.scope("attn_1"), channels: blockIn) : nil
        midBlock2 = try ResnetBlock(mid.scope("block_2"), inChannels: blockIn, outChannels: blockIn)
        var built = [Level?](repeating: nil, count: levels)
        for iLevel in stride(from: levels - 1, through: 0, by: -1) {
            let level = Level()
            let lw = w.scope("up").scope(iLevel)
            let blockOut = ch * config.chMult[iLevel]
            for iBlock in 0..<(config.numResBlocks + 1) {
                level.block.append(try ResnetBlock(lw.scope("block").scope(iBlock), inChannels: blockIn, outChannels: blockOut))
                blockIn = blockOut
                if config.attnResolutions.contains(currRes) && config.attnType == .vanilla {
                    level.attn.append(try AttnBlock(lw.scope("attn").scope(level.attn.count), channels: blockIn))
                }
            }
            if iLevel != 0 {
                level.upsample = try Upsample(lw.scope("upsample"), channels: blockIn)
                currRes *= 2
            }
            built[iLevel] = level
        }
        up = built.compactMap { $0 }
        normOut = try Normalize(w.scope("norm_out"), blockIn)
        convOut = try Conv2d(w.scope("conv_out"), inChannels: blockIn, outChannels: config.outCh, kernelSize: 3,
                             padding: Padding2D(1))
    }

    /// `z`: [N, z_channels, h, w]. Returns [N, out_ch, h·2^(L-1), w·2^(L-1)], plain layout.
    public func callAsFunction(_ z: Tensor) throws -> Tensor {
        guard z.rank == 4, z.shape[1] == config.zChannels else {
            throw TensorError.shapeMismatch("decoder expects [N, \(config.zChannels), h, w], got \(z.shape)")
        }
        var h = try convIn(z)
        h = try midBlock1(h)
        if let a = midAttn1 { h = try a(h) }
        h = try midBlock2(h)
        for level in up.reversed() {
            for (iBlock, block) in level.block.enumerated() {
                h = try block(h)
                if !level.attn.isEmpty { h = try level.attn[iBlock](h) }
            }
            if let us = level.upsample { h = try us(h) }
        }
        h = try normOut(h, silu: true)
        h = try convOut(h).plain()
        return config.tanhOut ? h.tanh() : h
    }
}
