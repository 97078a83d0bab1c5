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

public final class IBQ: VQModel {
    public let config: TamingConfig
    public let embedDim: Int
    public let usesEMAWeights: Bool
    let encoder: Encoder
    let decoder: Decoder
    let quantize: IndexPropagationQuantize
    let quantConv: Conv2d
    let postQuantConv: Conv2d

    public init(_ w: Weights, config: TamingConfig, nEmbed: Int, embedDim: Int, usesEMAWeights: Bool = false) throws {
        self.config = config
        self.embedDim = embedDim
        self.usesEMAWeights = usesEMAWeights
        encoder = try Encoder(w.scope("encoder"), config: config)
        decoder = try Decoder(w.scope("decoder"), config: config)
        quantize = try IndexPropagationQuantize(w.scope("quantize"), nEmbed: nEmbed, embedDim: embedDim)
        quantConv = try Conv2d(w.scope("quant_conv"), inChannels: config.zChannels, outChannels: embedDim, kernelSize: 1)
        postQuantConv = try Conv2d(w.scope("post_quant_conv"), inChannels: embedDim, outChannels: config.zChannels, kernelSize: 1)
    }

    public var family: ModelFamily { .ibq }
    public var codebookSize: Int { quantize.nEmbed }
    public var preset: Preset { .ibq() }
    public var summary: [(String, String)] {
        [("ch", "\(config.ch)"), ("ch_mult", "\(config.chMult)"), ("num_res_blocks", "\(config.numResBlocks)"),
         ("attn_resolutions", "\(config.attnResolutions)"), ("z_channels", "\(config.zChannels)"),
         ("embed_dim", "\(embedDim)"), ("n_embed", "\(quantize.nEmbed)"),
         ("quantizer", "argmax of the dot product with the codebook (no distance, no normalisation)"),
         ("weights", usesEMAWeights ? "EMA (model_ema.*, as upstream's evaluation)" : "raw (no EMA in the checkpoint)")]
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

// MARK: - Detection and hyper-parameters (for the family registry)

extension IBQ {
    /// The weights alone cannot tell IBQ from a taming / latent-diffusion VQModel: same modules, same keys. The
    /// YAML can (`class_path: src.IBQ.models.ibqgan.IBQ`); without it, a taming-layout checkpoint carrying LitEma
    /// shadows is taken for IBQ (every IBQ config trains with EMA; the released taming / latent-diffusion first
    /// stages carry none). `--family ldm-vqgan` overrides.
    public static func matches(_ sd: StateDict, yaml: [String: Any]?) -> Bool {
        guard sd["quantize.embedding.weight"] != nil, sd["quant_conv.weight"] != nil, sd["encoder.mid.block_1.conv1.weight"] != nil else { return false }
        if let target = ModelLoader.modelTarget(yaml) { return target.contains("IBQ") || target.contains("ibqgan") }
        return EMAWeightSource.present(in: sd)
    }

    public static func build(_ w: Weights, _ sd: StateDict, yaml: [String: Any]?, usesEMAWeights: Bool) throws -> IBQ {
        let p = ModelLoader.initArgs(yaml)
        let dd = p["ddconfig"] as? [String: Any] ?? [:]
        var config = try ModelLoader.tamingConfig(sd, resolution: dd["resolution"] as? Int ?? 256)
        if let a = dd["attn_resolutions"] as? [Int] { config.attnResolutions = a }
        if let z = dd["z_channels"] as? Int, z != config.zChannels { throw ModelError.badConfig("config z_channels \(z) != weights \(config.zChannels)") }
        let e = try ModelLoader.shape(sd, "quantize.embedding.weight", rank: 2)
        if let n = p["n_embed"] as? Int, n != e[0] { throw ModelError.badConfig("config n_embed \(n) != weights \(e[0])") }
        if p["remap"] is String { throw ModelError.badConfig("remap (a codebook index remapping file) is not supported") }
        return try IBQ(w, config: config, nEmbed: e[0], embedDim: e[1], usesEMAWeights: usesEMAWeights)
    }
}
