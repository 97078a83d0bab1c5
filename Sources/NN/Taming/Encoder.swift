// Encoder: conv_in, then per resolution level `num_res_blocks` ResnetBlocks (each followed by an AttnBlock at
// the attention resolutions) and a Downsample except after the last level, then the middle
// (block_1, attn_1, block_2), then norm_out, swish, conv_out.
import Tensor

public final class Encoder: @unchecked Sendable {
    public let config: TamingConfig

    final class Level {
        var block: [ResnetBlock] = []
        var attn: [AttnBlock] = []
        var downsample: Downsample?
    }

    let convIn: Conv2d
    let down: [Level]
    let midBlock1: ResnetBlock
    let midAttn1: AttnBlock?
    let midBlock2: ResnetBlock
    let normOut: GroupNorm
    let convOut: Conv2d

    public init(_ w: Weights, config: TamingConfig) throws {
        try config.validate()
        self.config = config
        let ch = config.ch
        convIn = try Conv2d(w.scope("conv_in"), inChannels: config.inChannels, outChannels: ch, kernelSize: 3,
                            padding: Padding2D(1))
        var currRes = config.resolution
        let inChMult = [1] + config.chMult
        var levels: [Level] = []
        var blockIn = ch
        for iLevel in 0..<config.chMult.count {
            let level = Level()
            let lw = w.scope("down").scope(iLevel)
            blockIn = ch * inChMult[iLevel]
            let blockOut = ch * config.chMult[iLevel]
            for iBlock in 0..<config.numResBlocks {
                level.block.append(try ResnetBlock(lw.scope("block").scope(iBlock), inChannels: blockIn, outChannels: blockOut))
                blockIn = blockOut
                if config.attnResolutions.contains(currRes) && config.attnType == .vanilla {
                    level.attn.append(try AttnBlock(lw.scope("attn").scope(level.attn.count), channels: blockIn))
                }
            }
            if iLevel != config.chMult.count - 1 {
                level.downsample = try Downsample(lw.scope("downsample"), channels: blockIn)
                currRes /= 2
            }
            levels.append(level)
        }
        down = levels
        let mid = w.scope("mid")
        midBlock1 = try ResnetBlock(mid.scope("block_1"), inChannels: blockIn, outChannels: blockIn)
        midAttn1 = config.attnType == .vanilla ? try AttnBlock(mid.scope("attn_1"), channels: blockIn) : nil
        midBlock2 = try ResnetBlock(mid.scope("block_2"), inChannels: blockIn, outChannels: blockIn)
        normOut = try Normalize(w.scope("norm_out"), blockIn)
        convOut = try Conv2d(w.scope("conv_out"), inChannels: blockIn,
                             outChannels: config.doubleZ ? 2 * config.zChannels : config.zChannels,
                             kernelSize: 3, padding: Padding2D(1))
    }

    /// `x`: [N, in_channels, H, W]. Returns [N, z_channels (×2 if double_z), H/2^(L-1), W/2^(L-1)], plain layout.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard x.rank == 4, x.shape[1] == config.inChannels else {
            throw TensorError.shapeMismatch("encoder expects [N, \(config.inChannels), H, W], got \(x.shape)")
        }
        var h = try convIn(x)
        for level in down {
            for (iBlock, block) in level.block.enumerated() {
                h = try block(h)
                if !level.attn.isEmpty { h = try level.attn[iBlock](h) }
            }
            if let ds = level.downsample { h = try ds(h) }
        }
        h = try midBlock1(h)
        if let a = midAttn1 { h = try a(h) }
        h = try midBlock2(h)
        h = try normOut(h, silu: true)
        return try convOut(h).plain()
    }
}
