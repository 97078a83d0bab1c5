// latent-diffusion `VQModel` (ldm/models/autoencoder.py), also taming's VQGAN:
//   encode: encoder → quant_conv → quantize;   decode: post_quant_conv → decoder.

import Imaging
import NN
import Tensor
import TorchFormats

public final class LDMVQGAN: VQModel {
    public let config: TamingConfig
    public let embedDim: Int
    let encoder: Encoder
    let decoder: Decoder
    let quantize: VectorQuantizer2
    let quantConv: Conv2d
    let postQuantConv: Conv2d

    public init(_ w: Weights, config: TamingConfig, nEmbed: Int, embedDim: Int) throws {
        self.config = config
        self.embedDim = embedDim
        encoder = try Encoder(w.scope("encoder"), config: config)
        decoder = try Decoder(w.scope("decoder"), config: config)
        quantize = try VectorQuantizer2(w.scope("quantize"), nEmbed: nEmbed, embedDim: embedDim)
        quantConv = try Conv2d(w.scope("quant_conv"), inChannels: config.zChannels, outChannels: embedDim, kernelSize: 1)
        postQuantConv = try Conv2d(w.scope("post_quant_conv"), inChannels: embedDim, outChannels: config.zChannels, kernelSize: 1)
    }

    public var family: ModelFamily { .ldmVQGAN }
    public var codebookSize: Int { quantize.nEmbed }
    public var preset: Preset { .ldmVQGAN(resolution: config.resolution) }
    public var summary: [(String, String)] {
        [("ch", "\(config.ch)"), ("ch_mult", "\(config.chMult)"), ("num_res_blocks", "\(config.numResBlocks)"),
         ("attn_resolutions", "\(config.attnResolutions)"), ("attn_type", config.attnType.rawValue),
         ("z_channels", "\(config.zChannels)"), ("embed_dim", "\(embedDim)"), ("n_embed", "\(quantize.nEmbed)")]
    }

    public func encode(_ x: Tensor) throws -> Encoded {
        let h = try quantConv(try encoder(x)).plain()
        let (codes, err) = try quantize.codes(h)
        return Encoded(latents: h, codes: codes, codeShape: [h.shape[0], h.shape[2], h.shape[3]], quantizationError: err)
    }

    public func decode(codes: [Int], shape: [Int]) throws -> Tensor {
        try checkCodes(codes, shape: shape)
        let q = try quantize.entries(codes, n: shape[0], h: shape[1], w: shape[2])
        return try decoder(try postQuantConv(q)).plain()
    }
}
