// The MaskGIT VQGAN's modules as bytedance/1d-tokenizer ports them (`modeling/modules/maskgit_vqgan.py`, from
// open-muse `muse/modeling_maskgit_vqgan.py`, itself a conversion of google-research/maskgit's Flax tokenizer):
// no attention anywhere, every convolution a TF-"SAME" `Conv2dSame`, bias-free convolutions inside the residual
// blocks and in `encoder.conv_in`, 2x2 average pooling to downsample, nearest x2 + `upsample_conv` to upsample,
// GroupNorm(32, eps 1e-6) + SiLU.
//   encoder.conv_in, encoder.down.{i}.block.{j}, encoder.mid.{j}, encoder.norm_out, encoder.conv_out (1x1)
//   decoder.conv_in, decoder.mid.{j}, decoder.up.{i}.block.{j} / .upsample_conv, decoder.norm_out, decoder.conv_out
// `decoder.up` is indexed by resolution level (`up.0` the highest) and run from `up.{L-1}` down.

import NN
import Tensor

/// Namespace of the MaskGIT-VQGAN modules (1d-tokenizer `modeling/modules/maskgit_vqgan.py`).
public enum MaskGIT {}

extension MaskGIT {
    /// The config object the modules read (`OmegaConf` in `PretrainedTokenizer`, the `config.json` of open-muse's
    /// `MaskGitVQGAN`).
    public struct Config: Sendable, Equatable {
        public var channelMult = [1, 1, 2, 2, 4]
        public var hiddenChannels = 128
        public var numChannels = 3
        public var numResBlocks = 2
        public var zChannels = 256
        public var numEmbeddings = 1024
        public init() {}
        public var numResolutions: Int { channelMult.count }
    }

    static func groupNorm(_ w: Weights, _ channels: Int) throws -> GroupNorm {
        try GroupNorm(w, groups: 32, channels: channels, eps: 1e-6)
    }

    /// `ResnetBlock(in, out)`: norm1 → SiLU → conv1 (3x3, no bias) → norm2 → SiLU → conv2 (3x3, no bias), then
    /// `hidden + residual`. Where the channel count changes, upstream sets `residual = nin_shortcut(hidden)` — a
    /// 1x1 convolution of conv2's OUTPUT (`nin_shortcut` is `Conv2dSame(out, out, 1)`), so the block input does
    /// not reach the output at all. That is what the released weights were converted for; vqrt keeps it.
    final class ResnetBlock {
        let inChannels: Int, outChannels: Int
        let norm1: GroupNorm
        let conv1: Conv2dSame
        let norm2: GroupNorm
        let conv2: Conv2dSame
        let ninShortcut: Conv2dSame?

        init(_ w: Weights, inChannels: Int, outChannels: Int) throws {
            self.inChannels = inChannels; self.outChannels = outChannels
            norm1 = try MaskGIT.groupNorm(w.scope("norm1"), inChannels)
            conv1 = try Conv2dSame(w.scope("conv1"), inChannels: inChannels, outChannels: outChannels, kernelSize: 3, bias: false)
            norm2 = try MaskGIT.groupNorm(w.scope("norm2"), outChannels)
            conv2 = try Conv2dSame(w.scope("conv2"), inChannels: outChannels, outChannels: outChannels, kernelSize: 3, bias: false)
            ninShortcut = inChannels != outChannels
                ? try Conv2dSame(w.scope("nin_shortcut"), inChannels: outChannels, outChannels: outChannels, kernelSize: 1, bias: false)
                : nil
        }

        func callAsFunction(_ x: Tensor) throws -> Tensor {
            var h = try conv1(try norm1(x, silu: true))
            h = try norm2(h, silu: true)
            guard let ninShortcut else { return try conv2(h, residual: x) }
            let hidden = try conv2(h)
            return try ninShortcut(hidden, residual: hidden)      // hidden + nin_shortcut(hidden)
        }
    }

    /// A level's `block.{j}`: `count` ResnetBlocks, the first from `inChannels`, the rest at `outChannels`.
    static func resnetBlocks(_ w: Weights, count: Int, inChannels: Int, outChannels: Int) throws -> [ResnetBlock] {
        try (0..<count).map { j in
            try ResnetBlock(w.scope(j), inChannels: j == 0 ? inChannels : outChannels, outChannels: outChannels)
        }
    }

    /// `DownsamplingBlock(config, block_idx)`: `num_res_blocks` ResnetBlocks, then `F.avg_pool2d(2, 2)` except at
    /// the last level.
    final class DownsamplingBlock {
        let block: [ResnetBlock]
        let downsample: Bool

        init(_ w: Weights, config c: Config, blockIdx: Int) throws {
            let inChannelMult = [1] + c.channelMult
            block = try MaskGIT.resnetBlocks(w.scope("block"), count: c.numResBlocks,
                                             inChannels: c.hiddenChannels * inChannelMult[blockIdx],
                                             outChannels: c.hiddenChannels * c.channelMult[blockIdx])
            downsample = blockIdx != c.numResolutions - 1
        }

        func callAsFunction(_ x: Tensor) throws -> Tensor {
            var h = x
            for b in block { h = try b(h) }
            return downsample ? try h.avgPool2d(kernel: 2, stride: 2) : h
        }
    }

    /// `UpsamplingBlock(config, block_idx)`: `num_res_blocks` ResnetBlocks from the level below's width, then
    /// (except at level 0) nearest x2 and `upsample_conv` (3x3 SAME, with bias).
    final class UpsamplingBlock {
        let block: [ResnetBlock]
        let upsample: Upsample?

        init(_ w: Weights, config c: Config, blockIdx: Int) throws {
            let blockIn = blockIdx == c.numResolutions - 1
                ? c.hiddenChannels * c.channelMult[c.numResolutions - 1]
                : c.hiddenChannels * c.channelMult[blockIdx + 1]
            let blockOut = c.hiddenChannels * c.channelMult[blockIdx]
            block = try MaskGIT.resnetBlocks(w.scope("block"), count: c.numResBlocks, inChannels: blockIn, outChannels: blockOut)
            upsample = blockIdx != 0 ? try Upsample(conv: w.scope("upsample_conv"), channels: blockOut) : nil
        }

        func callAsFunction(_ x: Tensor) throws -> Tensor {
            var h = x
            for b in block { h = try b(h) }
            if let upsample { h = try upsample(h) }
            return h
        }
    }

    public final class Encoder: @unchecked Sendable {
        public let config: Config
        let convIn: Conv2dSame
        let down: [DownsamplingBlock]
        let mid: [ResnetBlock]
        let normOut: GroupNorm
        let convOut: Conv2dSame

        public init(_ w: Weights, config c: Config) throws {
            try MaskGIT.validate(c)
            config = c
            convIn = try Conv2dSame(w.scope("conv_in"), inChannels: c.numChannels, outChannels: c.hiddenChannels, kernelSize: 3, bias: false)
            down = try (0..<c.numResolutions).map { try DownsamplingBlock(w.scope("down").scope($0), config: c, blockIdx: $0) }
            let midChannels = c.hiddenChannels * c.channelMult[c.numResolutions - 1]
            mid = try (0..<c.numResBlocks).map { try ResnetBlock(w.scope("mid").scope($0), inChannels: midChannels, outChannels: midChannels) }
            normOut = try MaskGIT.groupNorm(w.scope("norm_out"), midChannels)
            convOut = try Conv2dSame(w.scope("conv_out"), inChannels: midChannels, outChannels: c.zChannels, kernelSize: 1)
        }

        public func callAsFunction(_ pixelValues: Tensor) throws -> Tensor {
            guard pixelValues.rank == 4, pixelValues.shape[1] == config.numChannels else {
                throw TensorError.shapeMismatch("MaskGIT encoder expects [N, \(config.numChannels), H, W], got \(pixelValues.shape)")
            }
            var h = try convIn(pixelValues)
            for block in down { h = try block(h) }
            for block in mid { h = try block(h) }
            return try convOut(try normOut(h, silu: true)).plain()
        }
    }

    public final class Decoder: @unchecked Sendable {
        public let config: Config
        let convIn: Conv2dSame
        let mid: [ResnetBlock]
        /// Indexed by level (`up[0]` the highest resolution), run from the last.
        let up: [UpsamplingBlock]
        let normOut: GroupNorm
        let convOut: Conv2dSame

        public init(_ w: Weights, config c: Config) throws {
            try MaskGIT.validate(c)
            config = c
            let blockIn = c.hiddenChannels * c.channelMult[c.numResolutions - 1]
            convIn = try Conv2dSame(w.scope("conv_in"), inChannels: c.zChannels, outChannels: blockIn, kernelSize: 3)
            mid = try (0..<c.numResBlocks).map { try ResnetBlock(w.scope("mid").scope($0), inChannels: blockIn, outChannels: blockIn) }
            up = try (0..<c.numResolutions).map { try UpsamplingBlock(w.scope("up").scope($0), config: c, blockIdx: $0) }
            let blockOut = c.hiddenChannels * c.channelMult[0]
            normOut = try MaskGIT.groupNorm(w.scope("norm_out"), blockOut)
            convOut = try Conv2dSame(w.scope("conv_out"), inChannels: blockOut, outChannels: c.numChannels, kernelSize: 3)
        }

        public func callAsFunction(_ hiddenStates: Tensor) throws -> Tensor {
            guard hiddenStates.rank == 4, hiddenStates.shape[1] == config.zChannels else {
                throw TensorError.shapeMismatch("MaskGIT decoder expects [N, \(config.zChannels), h, w], got \(hiddenStates.shape)")
            }
            var h = try convIn(hiddenStates)
            for block in mid { h = try block(h) }
            for block in up.reversed() { h = try block(h) }
            return try convOut(try normOut(h, silu: true)).plain()
        }
    }

    static func validate(_ c: Config) throws {
        guard !c.channelMult.isEmpty, c.channelMult.allSatisfy({ $0 > 0 }), c.hiddenChannels > 0, c.numChannels > 0,
              c.numResBlocks > 0, c.zChannels > 0, c.numEmbeddings > 0 else {
            throw WeightError.invalidConfiguration("MaskGIT-VQGAN config \(c)")
        }
    }

    /// `VectorQuantizer(num_embeddings, embedding_dim, commitment_cost)`, eval path: the argmin over codes of
    /// `addmm(‖z‖² + ‖e‖², z, eᵀ, alpha=-2)` in float32 (first index on ties), no normalisation; the decoder gets
    /// the codebook row itself (`get_codebook_entry`). Key: `embedding.weight` [num_embeddings, embedding_dim].
    public final class VectorQuantizer: SpatialQuantizer, @unchecked Sendable {
        public let numEmbeddings: Int
        public let embeddingDim: Int
        let embedding: CodebookRows
        let search: CodebookSearch

        public init(_ w: Weights, numEmbeddings: Int, embeddingDim: Int) throws {
            self.numEmbeddings = numEmbeddings; self.embeddingDim = embeddingDim
            embedding = try CodebookRows(w.scope("embedding"), count: numEmbeddings, dimension: embeddingDim)
            search = try CodebookSearch(codes: embedding.table)
        }

        public var codebookSize: Int { numEmbeddings }

        /// `hidden_states`: `[N, C, h, w]`. Codes in (n, h, w) order (upstream's `[N, h*w]` rows) and each position's
        /// squared distance to its code.
        public func codes(_ hiddenStates: Tensor) throws -> (codes: [Int], error: [Float]) {
            let (flat, _) = try CodebookRows.latentRows(hiddenStates, dimension: embeddingDim)
            let (idx, _) = try search.nearest(flat, metric: .squaredEuclidean)
            return (idx, try embedding.errors(flat, idx))
        }

        /// `get_codebook_entry(indices)` for `[N, h, w]` indices: `[N, C, h, w]`.
        public func entries(_ codes: [Int], n: Int, h: Int, w: Int) throws -> Tensor {
            try embedding.entries(codes, n: n, h: h, w: w)
        }
    }
}
