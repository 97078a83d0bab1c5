// FoundationVision/LlamaGen `tokenizer/tokenizer_image/vq_model.py`: the `Encoder` and `Decoder`. They are taming's
// blocks (ResnetBlock, AttnBlock, Upsample, Downsample: same arithmetic and key names inside, GroupNorm(32, eps 1e-6)
// + swish) arranged under other module names:
//   encoder.conv_in, encoder.conv_blocks.{i}.res.{j} / .attn.{j} / .downsample.conv, encoder.mid.{0,1,2}
//     (ResnetBlock, AttnBlock, ResnetBlock as an nn.ModuleList), encoder.norm_out, encoder.conv_out
//   decoder.conv_in, decoder.mid.{0,1,2}, decoder.conv_blocks.{k}.res.{j} / .attn.{j} / .upsample.conv,
//     decoder.norm_out, decoder.conv_out
// Attention follows every ResnetBlock of the lowest-resolution level only (`i_level == num_resolutions - 1`),
// whatever the resolution. The decoder's conv_blocks are in run order: conv_blocks.0 is the lowest resolution
// (unlike taming's `up.{i}`), and every block but the last upsamples.

import NN
import Tensor

/// Namespace of LlamaGen's modules (`tokenizer/tokenizer_image/vq_model.py`).
public enum LlamaGen {}

extension LlamaGen {
    /// One resolution level: `res` ResnetBlocks, an AttnBlock after each at the lowest resolution, and the
    /// resampling block (`downsample` in the encoder, `upsample` in the decoder) where there is one.
    final class ConvBlock {
        var res: [ResnetBlock] = []
        var attn: [AttnBlock] = []
        var downsample: Downsample?
        var upsample: Upsample?

        func callAsFunction(_ x: Tensor) throws -> Tensor {
            var h = x
            for (i, block) in res.enumerated() {
                h = try block(h)
                if !attn.isEmpty { h = try attn[i](h) }
            }
            if let downsample { h = try downsample(h) }
            if let upsample { h = try upsample(h) }
            return h
        }
    }

    /// `Normalize(in_channels, 'group')`: GroupNorm(32 groups, eps 1e-6, affine).
    static func normalize(_ w: Weights, _ channels: Int) throws -> GroupNorm {
        try GroupNorm(w, groups: 32, channels: channels, eps: 1e-6)
    }

    public final class Encoder: @unchecked Sendable {
        let convIn: Conv2d
        let convBlocks: [ConvBlock]
        let mid: (ResnetBlock, AttnBlock, ResnetBlock)
        let normOut: GroupNorm
        let convOut: Conv2d
        public let inChannels: Int

        public init(_ w: Weights, inChannels: Int = 3, ch: Int, chMult: [Int], numResBlocks: Int, zChannels: Int) throws {
            guard !chMult.isEmpty, ch > 0, numResBlocks > 0, zChannels > 0, chMult.allSatisfy({ $0 > 0 }) else {
                throw WeightError.invalidConfiguration("LlamaGen encoder ch \(ch), ch_mult \(chMult), num_res_blocks \(numResBlocks)")
            }
            self.inChannels = inChannels
            let levels = chMult.count
            convIn = try Conv2d(w.scope("conv_in"), inChannels: inChannels, outChannels: ch, kernelSize: 3, padding: Padding2D(1))
            let inChMult = [1] + chMult
            var blocks: [ConvBlock] = []
            var blockIn = ch
            for iLevel in 0..<levels {
                let cw = w.scope("conv_blocks").scope(iLevel)
                let block = ConvBlock()
                blockIn = ch * inChMult[iLevel]
                let blockOut = ch * chMult[iLevel]
                for j in 0..<numResBlocks {
                    block.res.append(try ResnetBlock(cw.scope("res").scope(j), inChannels: blockIn, outChannels: blockOut))
                    blockIn = blockOut
                    if iLevel == levels - 1 { block.attn.append(try AttnBlock(cw.scope("attn").scope(j), channels: blockIn)) }
                }
                if iLevel != levels - 1 { block.downsample = try Downsample(cw.scope("downsample"), channels: blockIn) }
                blocks.append(block)
            }
            convBlocks = blocks
            let m = w.scope("mid")
            mid = (try ResnetBlock(m.scope(0), inChannels: blockIn, outChannels: blockIn),
                   try AttnBlock(m.scope(1), channels: blockIn),
                   try ResnetBlock(m.scope(2), inChannels: blockIn, outChannels: blockIn))
            normOut = try LlamaGen.normalize(w.scope("norm_out"), blockIn)
            convOut = try Conv2d(w.scope("conv_out"), inChannels: blockIn, outChannels: zChannels, kernelSize: 3, padding: Padding2D(1))
        }

        public func callAsFunction(_ x: Tensor) throws -> Tensor {
            guard x.rank == 4, x.shape[1] == inChannels else {
                throw TensorError.shapeMismatch("LlamaGen encoder expects [N, \(inChannels), H, W], got \(x.shape)")
            }
            var h = try convIn(x)
            for block in convBlocks { h = try block(h) }
            h = try mid.2(try mid.1(try mid.0(h)))
            return try convOut(try normOut(h, silu: true)).plain()
        }
    }

    public final class Decoder: @unchecked Sendable {
        let convIn: Conv2d
        let mid: (ResnetBlock, AttnBlock, ResnetBlock)
        let convBlocks: [ConvBlock]
        let normOut: GroupNorm
        let convOut: Conv2d
        public let zChannels: Int

        public init(_ w: Weights, zChannels: Int, ch: Int, chMult: [Int], numResBlocks: Int, outChannels: Int = 3) throws {
            guard !chMult.isEmpty, ch > 0, numResBlocks > 0, zChannels > 0, chMult.allSatisfy({ $0 > 0 }) else {
                throw WeightError.invalidConfiguration("LlamaGen decoder ch \(ch), ch_mult \(chMult), num_res_blocks \(numResBlocks)")
            }
            self.zChannels = zChannels
            let levels = chMult.count
            var blockIn = ch * chMult[levels - 1]
            convIn = try Conv2d(w.scope("conv_in"), inChannels: zChannels, outChannels: blockIn, kernelSize: 3, padding: Padding2D(1))
            let m = w.scope("mid")
            mid = (try ResnetBlock(m.scope(0), inChannels: blockIn, outChannels: blockIn),
                   try AttnBlock(m.scope(1), channels: blockIn),
                   try ResnetBlock(m.scope(2), inChannels: blockIn, outChannels: blockIn))
            var blocks: [ConvBlock] = []
            for iLevel in stride(from: levels - 1, through: 0, by: -1) {
                let cw = w.scope("conv_blocks").scope(blocks.count)
                let block = ConvBlock()
                let blockOut = ch * chMult[iLevel]
                for j in 0..<(numResBlocks + 1) {
                    block.res.append(try ResnetBlock(cw.scope("res").scope(j), inChannels: blockIn, outChannels: blockOut))
                    blockIn = blockOut
                    if iLevel == levels - 1 { block.attn.append(try AttnBlock(cw.scope("attn").scope(j), channels: blockIn)) }
                }
                if iLevel != 0 { block.upsample = try Upsample(cw.scope("upsample"), channels: blockIn) }
                blocks.append(block)
            }
            convBlocks = blocks
            normOut = try LlamaGen.normalize(w.scope("norm_out"), blockIn)
            convOut = try Conv2d(w.scope("conv_out"), inChannels: blockIn, outChannels: outChannels, kernelSize: 3, padding: Padding2D(1))
        }

        public func callAsFunction(_ z: Tensor) throws -> Tensor {
            guard z.rank == 4, z.shape[1] == zChannels else {
                throw TensorError.shapeMismatch("LlamaGen decoder expects [N, \(zChannels), h, w], got \(z.shape)")
            }
            var h = try convIn(z)
            h = try mid.2(try mid.1(try mid.0(h)))
            for block in convBlocks { h = try block(h) }
            return try convOut(try normOut(h, silu: true)).plain()
        }
    }

    /// `VectorQuantizer(n_e, e_dim, beta, entropy_loss_ratio, l2_norm, show_usage)`, eval path. With `l2_norm`
    /// (every released tokenizer) both the latent rows and the codebook rows are `F.normalize`d (eps 1e-12) before
    /// the lookup, and the decoder receives the normalised codebook row (`get_codebook_entry`). The lookup is the
    /// argmin of `sum(z²) + sum(e²) - 2 z·e` in float32 (first index on ties). Key: `embedding.weight` [n_e, e_dim];
    /// `codebook_used` [65536] is a usage buffer that inference never reads.
    public final class VectorQuantizer: SpatialQuantizer, @unchecked Sendable {
        public let nE: Int
        public let eDim: Int
        public let l2Norm: Bool
        /// The rows the lookup compares with and the decoder receives (normalised when `l2Norm`).
        let embedding: CodebookRows
        let search: CodebookSearch

        public init(_ w: Weights, nE: Int, eDim: Int, l2Norm: Bool) throws {
            self.nE = nE; self.eDim = eDim; self.l2Norm = l2Norm
            let raw = try CodebookRows(w.scope("embedding"), count: nE, dimension: eDim)
            embedding = l2Norm ? CodebookRows(try raw.table.l2Normalized()) : raw
            search = try CodebookSearch(codes: embedding.table)
        }

        public var codebookSize: Int { nE }

        /// `z`: `[N, e_dim, h, w]`. Codes in (n, h, w) order and each position's squared distance to its code, in
        /// the quantizer's space (between unit vectors when `l2Norm`).
        public func codes(_ z: Tensor) throws -> (codes: [Int], error: [Float]) {
            var (flat, _) = try CodebookRows.latentRows(z, dimension: eDim)           // 'b c h w -> (b h w) c'
            if l2Norm { flat = try flat.l2Normalized() }
            let (idx, _) = try search.nearest(flat, metric: .squaredEuclidean)
            return (idx, try embedding.errors(flat, idx))
        }

        /// `get_codebook_entry(indices, shape=(N, e_dim, h, w), channel_first=True)`: `[N, e_dim, h, w]`.
        public func entries(_ codes: [Int], n: Int, h: Int, w: Int) throws -> Tensor {
            try embedding.entries(codes, n: n, h: h, w: w)
        }
    }
}
