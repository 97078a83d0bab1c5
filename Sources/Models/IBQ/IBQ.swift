// IBQ, index backpropagation quantisation (TencentARC/SEED-Voken, src/IBQ/models/ibqgan.py `IBQ`, a `VQModel`
// whose quantizer is replaced by IndexPropagationQuantize; ibqgan_pretrain.py has the same modules):
//   encode: quantize(quant_conv(encoder(x)))      decode: decoder(post_quant_conv(quant))
// Its Encoder/Decoder (src/IBQ/modules/diffusionmodules/model.py) are taming's, line for line, so NN/Taming runs
// them. Checkpoints: Lightning 2 `.ckpt` with `state_dict` (encoder, decoder, loss, quantize, quant_conv,
// post_quant_conv) and, with `use_ema: True` (every released config), LitEma shadows `model_ema.*`, which the
// evaluation uses (evaluation_image.py, `model.ema_scope()`); so does vqrt.

import Imaging
import NN
import Tensor
import TorchFormats

public final class IBQ: DownsamplingVQModel {
    public let config: TamingConfig
    public let embedDim: Int
    public let usesEMAWeights: Bool
    let model: ConvolutionalVQ<IndexPropagationQuantize>

    public init(_ w: Weights, config: TamingConfig, nEmbed: Int, embedDim: Int, usesEMAWeights: Bool = false) throws {
        self.config = config
        self.embedDim = embedDim
        self.usesEMAWeights = usesEMAWeights
        model = try ConvolutionalVQ(w, zChannels: config.zChannels, embedDim: embedDim,
                                    encoder: try Encoder(w.scope("encoder"), config: config).callAsFunction,
                                    decoder: try Decoder(w.scope("decoder"), config: config).callAsFunction,
                                    quantize: try IndexPropagationQuantize(w.scope("quantize"), nEmbed: nEmbed, embedDim: embedDim))
    }

    public var family: ModelFamily { .ibq }
    public var codebookSize: Int { model.quantize.nEmbed }
    public var preset: Preset { .ibq() }

    public func encode(_ x: Tensor) throws -> Encoded { try model.encode(x) }

    public func decode(codes: [Int], shape: [Int]) throws -> Tensor {
        try checkCodes(codes, shape: shape)
        return try model.decode(codes: codes, shape: shape)
    }

    public var downsampling: Int { config.downsampling }
    public func activationBytes(height: Int, width: Int) -> Int { config.activationBytes(height: height, width: width) }
}
