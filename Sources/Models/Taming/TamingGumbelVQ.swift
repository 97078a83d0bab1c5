// taming-transformers `GumbelVQ` (taming/models/vqgan.py): a VQModel whose quantizer is GumbelQuantize
//   encode: quantize(quant_conv(encoder(x)))      decode: decoder(post_quant_conv(quant))
// (the OpenImages f8 release, 8192 codes: `last.ckpt`, Lightning 1.x, + `model.yaml`). GumbelQuantize is built
// with num_hiddens = z_channels but applied to quant_conv's embed_dim outputs, so upstream only runs when the two
// are equal. Codes are the noise-free argmax of the logits (see GumbelQuantize.swift): upstream's `encode` draws
// Gumbel noise even in eval mode. taming's standard `VQModel` is latent-diffusion's and loads as `ldm-vqgan`.

import Imaging
import NN
import Tensor
import TorchFormats

public final class TamingGumbelVQ: DownsamplingVQModel {
    public let config: TamingConfig
    public let embedDim: Int
    let model: ConvolutionalVQ<GumbelQuantize>

    public init(_ w: Weights, config: TamingConfig, nEmbed: Int, embedDim: Int) throws {
        guard config.zChannels == embedDim else {
            throw ModelError.badConfig("GumbelVQ needs embed_dim == z_channels (its proj takes z_channels inputs from quant_conv's embed_dim outputs), got \(embedDim) and \(config.zChannels)")
        }
        self.config = config
        self.embedDim = embedDim
        model = try ConvolutionalVQ(w, zChannels: config.zChannels, embedDim: embedDim,
                                    encoder: try Encoder(w.scope("encoder"), config: config).callAsFunction,
                                    decoder: try Decoder(w.scope("decoder"), config: config).callAsFunction,
                                    quantize: try GumbelQuantize(w.scope("quantize"), numHiddens: config.zChannels,
                                                                 embeddingDim: embedDim, nEmbed: nEmbed))
    }

    public var family: ModelFamily { .tamingVQGAN }
    public var codebookSize: Int { model.quantize.nEmbed }
    /// taming's own `ImagePaths` (SmallestMaxSize + CenterCrop, x/127.5 - 1): the ldm-vqgan pipeline.
    public var preset: Preset { .tamingVQGAN(resolution: config.resolution) }

    public func encode(_ x: Tensor) throws -> Encoded { try model.encode(x) }

    public func decode(codes: [Int], shape: [Int]) throws -> Tensor {
        try checkCodes(codes, shape: shape)
        return try model.decode(codes: codes, shape: shape)
    }

    public var downsampling: Int { config.downsampling }
    public func activationBytes(height: Int, width: Int) -> Int { config.activationBytes(height: height, width: width) }
}
