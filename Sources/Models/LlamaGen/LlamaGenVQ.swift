// FoundationVision/LlamaGen `VQModel` (tokenizer/tokenizer_image/vq_model.py; `vq_model_hf.py`'s VQModelHF is the
// same module with the Hugging Face mixin), eval path:
//   encode: h = quant_conv(encoder(x)) (the latents), codes = quantize(h)
//   decode_code: post_quant_conv(normalised codebook rows) -> decoder
// VQ-16: encoder/decoder ch_mult (1, 1, 2, 2, 4); VQ-8: (1, 2, 2, 4); ch 128, 2 res blocks, z 256, quant_conv
// 256 -> 8, an l2-normalised 8-dim codebook of 16384 codes. Input [-1, 1] (preset `llamagen-vq`).

import Imaging
import NN
import Tensor
import TorchFormats

/// `ModelArgs` of vq_model.py, plus the Encoder/Decoder constructor defaults that ModelArgs does not carry
/// (`ch`, `num_res_blocks`): vqrt reads those from the weights.
public struct LlamaGenArgs: Sendable, Equatable {
    public var codebookSize = 16384
    public var codebookEmbedDim = 8
    public var codebookL2Norm = true
    public var encoderChMult = [1, 1, 2, 2, 4]
    public var decoderChMult = [1, 1, 2, 2, 4]
    public var zChannels = 256
    public var ch = 128
    public var numResBlocks = 2
    public var inChannels = 3
    public var outChannels = 3
    public init() {}

    /// `VQ_models['VQ-16']` / `['VQ-8']` with the released codebook.
    public static func vq(_ downsampling: Int) -> LlamaGenArgs {
        var a = LlamaGenArgs()
        if downsampling == 8 { a.encoderChMult = [1, 2, 2, 4]; a.decoderChMult = [1, 2, 2, 4] }
        return a
    }

    /// "VQ-16" / "VQ-8" when the architecture is one of the two upstream configs, else nil.
    public var upstreamName: String? {
        guard ch == 128, numResBlocks == 2, zChannels == 256, encoderChMult == decoderChMult else { return nil }
        switch encoderChMult {
        case [1, 1, 2, 2, 4]: return "VQ-16"
        case [1, 2, 2, 4]: return "VQ-8"
        default: return nil
        }
    }
}

public final class LlamaGenVQ: DownsamplingVQModel {
    public let args: LlamaGenArgs
    let model: ConvolutionalVQ<LlamaGen.VectorQuantizer>

    public init(_ w: Weights, args a: LlamaGenArgs) throws {
        args = a
        model = try ConvolutionalVQ(
            w, zChannels: a.zChannels, embedDim: a.codebookEmbedDim,
            encoder: try LlamaGen.Encoder(w.scope("encoder"), inChannels: a.inChannels, ch: a.ch, chMult: a.encoderChMult,
                                          numResBlocks: a.numResBlocks, zChannels: a.zChannels).callAsFunction,
            decoder: try LlamaGen.Decoder(w.scope("decoder"), zChannels: a.zChannels, ch: a.ch, chMult: a.decoderChMult,
                                          numResBlocks: a.numResBlocks, outChannels: a.outChannels).callAsFunction,
            quantize: try LlamaGen.VectorQuantizer(w.scope("quantize"), nE: a.codebookSize, eDim: a.codebookEmbedDim,
                                                   l2Norm: a.codebookL2Norm))
    }

    public var family: ModelFamily { .llamagenVQ }
    public var codebookSize: Int { args.codebookSize }
    public var preset: Preset { .llamagenVQ() }

    public func encode(_ x: Tensor) throws -> Encoded { try model.encode(x) }

    public func decode(codes: [Int], shape: [Int]) throws -> Tensor {
        try checkCodes(codes, shape: shape)
        return try model.decode(codes: codes, shape: shape)
    }

    public var downsampling: Int { args.downsampling }
    public func activationBytes(height: Int, width: Int) -> Int { args.activationBytes(height: height, width: width) }
}
