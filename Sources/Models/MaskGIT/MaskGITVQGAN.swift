// The MaskGIT VQGAN tokenizer as bytedance/1d-tokenizer runs it (`modeling/titok.py` `PretrainedTokenizer`, the
// modules of `modeling/modules/maskgit_vqgan.py`):
//   encode: codes = quantize(encoder(x)) (latents = the encoder output, which the quantizer receives as is)
//   decode: decoder(get_codebook_entry(codes)); 1d-tokenizer then clamps to [0, 1] (the `maskgit-vqgan` preset's
//   output mapping does that, then rounds).
// f16: channel_mult (1, 1, 2, 2, 4), hidden 128, 2 res blocks, z 256, 1024 codes of dim 256. Input [0, 1].
//
// Checkpoints: the converted Flax weights as a plain `torch.save(state_dict)` (`maskgit-vqgan-imagenet-f16-256.bin`,
// `PretrainedTokenizer` loads it with strict=True), or the Hugging Face layout of open-muse's `MaskGitVQGAN`
// (`pytorch_model.bin` / `model.safetensors` + `config.json`): the same keys either way.

import Imaging
import NN
import Tensor
import TorchFormats

public final class MaskGITVQGAN: DownsamplingVQModel {
    public let config: MaskGIT.Config
    let encoder: MaskGIT.Encoder
    let decoder: MaskGIT.Decoder
    let quantize: MaskGIT.VectorQuantizer

    public init(_ w: Weights, config c: MaskGIT.Config) throws {
        config = c
        encoder = try MaskGIT.Encoder(w.scope("encoder"), config: c)
        decoder = try MaskGIT.Decoder(w.scope("decoder"), config: c)
        quantize = try MaskGIT.VectorQuantizer(w.scope("quantize"), numEmbeddings: c.numEmbeddings, embeddingDim: c.zChannels)
    }

    public var family: ModelFamily { .maskgitVQGAN }
    public var codebookSize: Int { config.numEmbeddings }
    public var preset: Preset { .maskgitVQGAN() }

    public func encode(_ x: Tensor) throws -> Encoded {
        let h = try encoder(x)
        let (codes, err) = try quantize.codes(h)
        return Encoded(latents: h, codes: codes, codeShape: [h.shape[0], h.shape[2], h.shape[3]], quantizationError: err)
    }

    public func decode(codes: [Int], shape: [Int]) throws -> Tensor {
        try checkCodes(codes, shape: shape)
        return try decoder(try quantize.entries(codes, n: shape[0], h: shape[1], w: shape[2])).plain()
    }

    public var downsampling: Int { config.downsampling }
    public func activationBytes(height: Int, width: Int) -> Int { config.activationBytes(height: height, width: width) }
}
