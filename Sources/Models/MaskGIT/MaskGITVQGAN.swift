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

public final class MaskGITVQGAN: VQModel {
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
    public var summary: [(String, String)] { MaskGITVQGAN.summary(config) }

    public func encode(_ x: Tensor) throws -> Encoded {
        let h = try encoder(x)
        let (codes, err) = try quantize.codes(h)
        return Encoded(latents: h, codes: codes, codeShape: [h.shape[0], h.shape[2], h.shape[3]], quantizationError: err)
    }

    public func decode(codes: [Int], shape: [Int]) throws -> Tensor {
        try checkCodes(codes, shape: shape)
        return try decoder(try quantize.entries(codes, n: shape[0], h: shape[1], w: shape[2])).plain()
    }
}

// MARK: - Detection and hyper-parameters

extension MaskGITVQGAN {
    /// The 1d-tokenizer / open-muse key layout: `down.{i}.block.{j}` and `up.{i}.block.{j}` blocks, a bias-free
    /// `encoder.conv_in`, a codebook and no `quant_conv` (which tells it from taming / latent-diffusion VQGANs).
    public static func matches(_ sd: StateDict) -> Bool {
        ["encoder.conv_in.weight", "encoder.down.0.block.0.conv1.weight", "decoder.up.0.block.0.conv1.weight",
         "quantize.embedding.weight"].allSatisfy { sd[$0] != nil }
            && sd["encoder.conv_in.bias"] == nil && sd["quant_conv.weight"] == nil
    }

    /// The config from the shapes; `config` (open-muse's `config.json`) may state the same fields, which must agree.
    /// Errors name the first missing or mis-shaped key.
    public static func config(from sd: StateDict, config stated: [String: Any] = [:]) throws -> MaskGIT.Config {
        func shape(_ key: String, rank: Int) throws -> [Int] {
            let s = try ModelLoader.shape(sd, key)
            guard s.count == rank, s.allSatisfy({ $0 > 0 }) else {
                throw ModelError.badConfig("weight '\(key)' has shape \(s), expected \(rank) positive dimensions")
            }
            return s
        }
        var c = MaskGIT.Config()
        let convIn = try shape("encoder.conv_in.weight", rank: 4)
        c.hiddenChannels = convIn[0]; c.numChannels = convIn[1]
        c.channelMult = []
        while sd["encoder.down.\(c.channelMult.count).block.0.conv1.weight"] != nil {
            let key = "encoder.down.\(c.channelMult.count).block.0.conv1.weight"
            let out = try shape(key, rank: 4)[0]
            guard out % c.hiddenChannels == 0 else {
                throw ModelError.badConfig("weight '\(key)' has \(out) output channels, not a multiple of hidden_channels \(c.hiddenChannels)")
            }
            c.channelMult.append(out / c.hiddenChannels)
        }
        guard !c.channelMult.isEmpty else { throw ModelError.badConfig("weight 'encoder.down.0.block.0.conv1.weight' is missing") }
        c.numResBlocks = 0
        while sd["encoder.down.0.block.\(c.numResBlocks).conv1.weight"] != nil { c.numResBlocks += 1 }
        c.zChannels = try shape("encoder.conv_out.weight", rank: 4)[0]
        let e = try shape("quantize.embedding.weight", rank: 2)
        c.numEmbeddings = e[0]
        guard e[1] == c.zChannels else {
            throw ModelError.badConfig("weight 'quantize.embedding.weight' has shape \(e), expected [\(e[0]), \(c.zChannels)] (z_channels)")
        }
        let checks: [(String, Any)] = [("hidden_channels", c.hiddenChannels), ("num_channels", c.numChannels),
                                       ("channel_mult", c.channelMult), ("num_res_blocks", c.numResBlocks),
                                       ("z_channels", c.zChannels), ("num_embeddings", c.numEmbeddings),
                                       ("quantized_embed_dim", c.zChannels)]
        for (key, fromWeights) in checks {
            guard let v = stated[key] else { continue }
            if "\(v)" != "\(fromWeights)" {
                throw ModelError.badConfig("the config says \(key) = \(v), the weights \(fromWeights)")
            }
        }
        return c
    }

    public static func summary(_ c: MaskGIT.Config) -> [(String, String)] {
        [("hidden_channels", "\(c.hiddenChannels)"), ("channel_mult", "\(c.channelMult)"),
         ("num_res_blocks", "\(c.numResBlocks)"), ("z_channels", "\(c.zChannels)"),
         ("num_embeddings", "\(c.numEmbeddings)"), ("f", "\(1 << (c.channelMult.count - 1))")]
    }

    /// `summary` as typed values, for `inspect --json`.
    public static func hyperParameters(_ c: MaskGIT.Config) -> [(String, JSONValue)] {
        [("hidden_channels", .int(Int64(c.hiddenChannels))), ("channel_mult", .array(c.channelMult.map { .int(Int64($0)) })),
         ("num_res_blocks", .int(Int64(c.numResBlocks))), ("z_channels", .int(Int64(c.zChannels))),
         ("num_embeddings", .int(Int64(c.numEmbeddings))), ("f", .int(Int64(1 << (c.channelMult.count - 1))))]
    }
}
