// Open-MAGVIT2 `Decoder` (improved_model.py): conv_in (3x3, bias) from z_channels, `mid_block`, then levels from the
// lowest resolution (`up.{L-1}`, run first) to the highest: each starts with `adaptive[i]`, an AdaptiveGroupNorm
// conditioned on the decoder's input (the quantised latent, `style = z.clone()`), then `num_res_blocks` ResBlocks,
// then an `Upsampler` except at level 0; then norm_out, swish, conv_out (3x3, bias). `up` and `adaptive` are
// indexed by level (both built with `insert(0, ...)`).

import NN
import Tensor

public final class MAGVIT2Decoder: @unchecked Sendable {
    public let config: OpenMAGVIT2Config

    final class Level {
        var block: [MAGVIT2ResBlock] = []
        var upsample: Upsampler?
    }

    let convIn: Conv2d
    let midBlock: [MAGVIT2ResBlock]
    /// Indexed by level: `up[0]` / `adaptive[0]` work at the highest resolution.
    let up: [Level]
    let adaptive: [AdaptiveGroupNorm]
    let normOut: GroupNorm
    let convOut: Conv2d

    public init(_ w: Weights, config: OpenMAGVIT2Config) throws {
        try config.validate()
        self.config = config
        let ch = config.ch, levels = config.chMult.count
        var blockIn = ch * config.chMult[levels - 1]
        convIn = try Conv2d(w.scope("conv_in"), inChannels: config.zChannels, outChannels: blockIn, kernelSize: 3,
                            padding: Padding2D(1))
        midBlock = try (0..<config.numResBlocks).map {
            try MAGVIT2ResBlock(w.scope("mid_block").scope($0), inFilters: blockIn, outFilters: blockIn)
        }
        var builtUp = [Level?](repeating: nil, count: levels)
        var builtAdaptive = [AdaptiveGroupNorm?](repeating: nil, count: levels)
        for iLevel in stride(from: levels - 1, through: 0, by: -1) {
            let blockOut = ch * config.chMult[iLevel]
            builtAdaptive[iLevel] = try AdaptiveGroupNorm(w.scope("adaptive").scope(iLevel), zChannels: config.zChannels,
                                                          inFilters: blockIn)
            let level = Level()
            let lw = w.scope("up").scope(iLevel)
            for iBlock in 0..<config.numResBlocks {
                level.block.append(try MAGVIT2ResBlock(lw.scope("block").scope(iBlock), inFilters: blockIn, outFilters: blockOut))
                blockIn = blockOut
            }
            if iLevel > 0 { level.upsample = try Upsampler(lw.scope("upsample"), dim: blockIn) }
            builtUp[iLevel] = level
        }
        up = builtUp.compactMap { $0 }
        adaptive = builtAdaptive.compactMap { $0 }
        normOut = try GroupNorm(w.scope("norm_out"), groups: 32, channels: blockIn, eps: 1e-6)
        convOut = try Conv2d(w.scope("conv_out"), inChannels: blockIn, outChannels: config.outCh, kernelSize: 3,
                             padding: Padding2D(1))
    }

    /// `z`: [N, z_channels, h, w] (the quantiser's output). Returns [N, out_ch, h·2^(L-1), w·2^(L-1)], plain.
    public func callAsFunction(_ z: Tensor) throws -> Tensor {
        guard z.rank == 4, z.shape[1] == config.zChannels else {
            throw TensorError.shapeMismatch("decoder expects [N, \(config.zChannels), h, w], got \(z.shape)")
        }
        let style = z.plain()
        // AdaptiveGroupNorm's statistics of the style do not depend on the level: computed once.
        let moments = try AdaptiveGroupNorm.styleMoments(style, eps: 1e-6)
        var h = try convIn(style)
        for block in midBlock { h = try block(h) }
        for iLevel in stride(from: up.count - 1, through: 0, by: -1) {
            h = try adaptive[iLevel](h, moments)
            for block in up[iLevel].block { h = try block(h) }
            if let us = up[iLevel].upsample { h = try us(h) }
        }
        h = try normOut(h, silu: true)
        return try convOut(h).plain()
    }
}

/// `Upsampler(dim)`: conv1 (dim -> 4·dim, 3x3, padding 1, bias) then `depth_to_space(·, block_size=2)` in DCR
/// order (Tensor.depthToSpace2x; not pixel_shuffle's order).
public final class Upsampler: @unchecked Sendable {
    let conv1: Conv2d

    public init(_ w: Weights, dim: Int) throws {
        conv1 = try Conv2d(w.scope("conv1"), inChannels: dim, outChannels: 4 * dim, kernelSize: 3, padding: Padding2D(1))
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try conv1(x).depthToSpace2x() }
}

/// `AdaptiveGroupNorm(z_channel, in_filters)`: GroupNorm(32, eps 1e-6) without affine parameters, then
/// `scale * x + bias` per sample and channel, where
///   scale = gamma(sqrt(var(style over h·w) + eps)),  bias = beta(mean(style over h·w))
/// with `gamma`, `beta` Linear(z_channels -> in_filters) and `var` torch's default, the UNBIASED variance
/// (divisor h·w − 1; the upstream comment "not unbias" notwithstanding). A 1x1 latent has no unbiased variance
/// (PyTorch gives NaN): vqrt refuses it.
public final class AdaptiveGroupNorm: @unchecked Sendable {
    public let inFilters: Int
    let gamma: Linear
    let beta: Linear
    let eps: Float = 1e-6

    public init(_ w: Weights, zChannels: Int, inFilters: Int) throws {
        guard inFilters % 32 == 0 else {
            throw WeightError.invalidConfiguration("AdaptiveGroupNorm(32 groups, \(inFilters)) at '\(w.prefix)'")
        }
        self.inFilters = inFilters
        gamma = try Linear(w.scope("gamma"), inFeatures: zChannels, outFeatures: inFilters)
        beta = try Linear(w.scope("beta"), inFeatures: zChannels, outFeatures: inFilters)
    }

    /// Per sample and channel of `style` ([N, C, h, w] plain): sqrt(var + eps) ([N, C]) and the mean ([N, C]),
    /// each reduced in double and rounded once (PyTorch's CPU var/mean of float32 accumulate in double).
    static func styleMoments(_ style: Tensor, eps: Float) throws -> (std: Tensor, mean: Tensor) {
        let n = style.shape[0], c = style.shape[1], hw = style.shape[2] * style.shape[3]
        guard hw >= 2 else {
            throw TensorError.invalidArgument("AdaptiveGroupNorm needs a latent of at least 2 positions (the unbiased variance of one value is undefined), got \(style.shape[2])x\(style.shape[3])")
        }
        var std = [Float](repeating: 0, count: n * c), mean = std
        let p = style.pointer
        for row in 0..<(n * c) {
            let v = p + row * hw
            var s = 0.0
            for i in 0..<hw { s += Double(v[i]) }
            let m = s / Double(hw)
            var q = 0.0
            for i in 0..<hw { let d = Double(v[i]) - m; q += d * d }
            let variance = Float(q / Double(hw - 1))
            std[row] = (variance + eps).squareRoot()
            mean[row] = Float(m)
        }
        return (try Tensor(shape: [n, c], values: std), try Tensor(shape: [n, c], values: mean))
    }

    public func callAsFunction(_ x: Tensor, _ style: (std: Tensor, mean: Tensor)) throws -> Tensor {
        guard x.rank == 4, x.shape[1] == inFilters, style.std.shape[0] == x.shape[0] else {
            throw TensorError.shapeMismatch("AdaptiveGroupNorm(\(inFilters)) expects [N, \(inFilters), H, W] and N styles, got \(x.shape)")
        }
        let scale = try gamma(style.std).toArray()        // [N, C]
        let bias = try beta(style.mean).toArray()
        return try x.groupNorm(groups: 32, eps: eps, sampleScale: scale, sampleShift: bias)
    }
}
