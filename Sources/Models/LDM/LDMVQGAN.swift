// latent-diffusion `VQModel` (ldm/models/autoencoder.py), also taming's VQGAN:
//   encode: encoder → quant_conv → quantize;   decode: post_quant_conv → decoder.

import Imaging
import NN
import Tensor
import TorchFormats

public final class LDMVQGAN: DownsamplingVQModel {
    public let config: TamingConfig
    public let embedDim: Int
    let model: ConvolutionalVQ<VectorQuantizer2>

    public init(_ w: Weights, config: TamingConfig, nEmbed: Int, embedDim: Int) throws {
        self.config = config
        self.embedDim = embedDim
        model = try ConvolutionalVQ(w, zChannels: config.zChannels, embedDim: embedDim,
                                    encoder: try Encoder(w.scope("encoder"), config: config).callAsFunction,
                                    decoder: try Decoder(w.scope("decoder"), config: config).callAsFunction,
                                    quantize: try VectorQuantizer2(w.scope("quantize"), nEmbed: nEmbed, embedDim: embedDim))
    }

    public var family: ModelFamily { .ldmVQGAN }
    public var codebookSize: Int { model.quantize.nEmbed }
    public var preset: Preset { .ldmVQGAN(resolution: config.resolution) }

    public func encode(_ x: Tensor) throws -> Encoded { try model.encode(x) }

    public func decode(codes: [Int], shape: [Int]) throws -> Tensor {
        try checkCodes(codes, shape: shape)
        return try model.decode(codes: codes, shape: shape)
    }

    public var downsampling: Int { config.downsampling }
    public func activationBytes(height: Int, width: Int) -> Int { config.activationBytes(height: height, width: width) }
}
