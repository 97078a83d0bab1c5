// The Table 1 VQ-VAE of the rotation_trick repo: taming-style Encoder / Decoder, an optional projection to the
// codebook dimension (Linear, + LayerNorm for the cosine codebook), lucidrains VectorQuantize.
//   f=8: ch_mult 1,1,2,2,4, attention at 16, z 256 → 32-d codes, 1024 codes (16×16 tokens)
//   f=4: ch_mult 1,2,4, z 3, 8192 codes, no projections (64×64 tokens)
// Keys arrive with DataParallel's `module.` prefix, stripped by the loader.

import Imaging
import NN
import Tensor
import TorchFormats

public final class RTVQVAE: DownsamplingVQModel {
    public let config: TamingConfig
    public let embedDim: Int
    public let cosine: Bool
    let encoder: Encoder
    let decoder: Decoder
    let vq: LucidrainsVectorQuantize
    let preQuantLinear: Linear?
    let preQuantNorm: LayerNorm?
    let postQuantLinear: Linear?

    public init(_ w: Weights, config: TamingConfig, embedDim: Int, codebookSize: Int, cosine: Bool) throws {
        self.config = config; self.embedDim = embedDim; self.cosine = cosine
        encoder = try Encoder(w.scope("encoder"), config: config)
        decoder = try Decoder(w.scope("decoder"), config: config)
        vq = try LucidrainsVectorQuantize(w.scope("vq"), codebookSize: codebookSize, dimension: embedDim, cosine: cosine)
        if embedDim != config.zChannels {
            // nn.Sequential(Linear[, LayerNorm]) → keys pre_quant_proj.0.*, pre_quant_proj.1.*
            preQuantLinear = try Linear(w.scope("pre_quant_proj").scope(0), inFeatures: config.zChannels, outFeatures: embedDim)
            preQuantNorm = cosine ? try LayerNorm(w.scope("pre_quant_proj").scope(1), dimension: embedDim) : nil
            postQuantLinear = try Linear(w.scope("post_quant_proj"), inFeatures: embedDim, outFeatures: config.zChannels)
        } else {
            preQuantLinear = nil; preQuantNorm = nil; postQuantLinear = nil
        }
    }

    public var family: ModelFamily { .rtVQVAE }
    public var codebookSize: Int { vq.codebookSize }
    public var preset: Preset { .rtVQVAE(resolution: config.resolution) }

    /// `[N, embed_dim, h, w]`: encoder, then the pre-quantisation projection (before any normalisation).
    func prequant(_ x: Tensor) throws -> Tensor {
        let h = try encoder(x).plain()
        guard let preQuantLinear else { return h }
        var t = try preQuantLinear(try h.imageToTokens())
        if let preQuantNorm { t = try preQuantNorm(t) }
        return try t.tokensToImage(height: h.shape[2], width: h.shape[3])
    }

    public func encode(_ x: Tensor) throws -> Encoded {
        let latents = try prequant(x)
        let n = latents.shape[0], h = latents.shape[2], w = latents.shape[3]
        var flat = try latents.imageToTokens().reshaped([n * h * w, embedDim])
        // VQVAE.forward divides by the channel norm (no eps) before the quantizer's own l2norm.
        if cosine { flat = try flat.l2Normalized(eps: 0) }
        let (codes, err) = try vq.codes(flat)
        return Encoded(latents: latents, codes: codes, codeShape: [n, h, w], quantizationError: err)
    }

    public func decode(codes: [Int], shape: [Int]) throws -> Tensor {
        try checkCodes(codes, shape: shape)
        let n = shape[0], h = shape[1], w = shape[2]
        var q = try vq.vectors(codes)
        if cosine { q = try q.l2Normalized(eps: 0) }
        var tokens = try q.reshaped([n, h * w, embedDim])
        if let postQuantLinear { tokens = try postQuantLinear(tokens) }
        return try decoder(try tokens.tokensToImage(height: h, width: w)).plain()
    }

    public var downsampling: Int { config.downsampling }
    public func activationBytes(height: Int, width: Int) -> Int { config.activationBytes(height: height, width: width) }
}
