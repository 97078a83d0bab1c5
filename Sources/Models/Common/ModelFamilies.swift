// Which family a state dict belongs to and the hyper-parameters its keys and shapes (and the Table 1 `args`, and
// the upstream config where the weights cannot tell) reveal: derived once, here, for `inspect` and the loader alike.
// Which weights of a checkpoint a family's own evaluation runs (LlamaGen's `ema` entry, SEED-Voken's LitEma
// shadows) is decided here too.

import Foundation
import NN
import TorchFormats

public enum ModelFamily: String, CaseIterable, Sendable {
    /// Table 1 VQ-VAEs of the rotation_trick repo (taming-style encoder/decoder, lucidrains VectorQuantize).
    case rtVQVAE = "rt-vqvae"
    /// Table 3 VQGANs: latent-diffusion VQModel / taming VQGAN.
    case ldmVQGAN = "ldm-vqgan"
    /// Table 4 ViT-VQGAN: enhancing-transformers ViTVQ.
    case vitVQGAN = "vit-vqgan"
    /// LlamaGen VQ-16 / VQ-8 (FoundationVision/LlamaGen `tokenizer/tokenizer_image/vq_model.py`).
    case llamagenVQ = "llamagen-vq"
    /// MaskGIT's VQGAN as bytedance/1d-tokenizer ports it (`modeling/modules/maskgit_vqgan.py`).
    case maskgitVQGAN = "maskgit-vqgan"
    /// SEED-Voken Open-MAGVIT2 (lookup-free quantisation, `src/Open_MAGVIT2/models/lfqgan.py`).
    case openMAGVIT2 = "open-magvit2"
    /// SEED-Voken IBQ (index backpropagation quantisation, `src/IBQ/models/ibqgan.py`).
    case ibq = "ibq"
    /// taming-transformers GumbelVQ (its standard VQModel is `ldm-vqgan`).
    case tamingVQGAN = "taming-vqgan"

    /// The family whose characteristic keys the state dict has, or nil. `yaml` tells IBQ from a latent-diffusion
    /// VQModel (same modules, same keys) by the class it names.
    public static func detect(_ sd: StateDict, yaml: UpstreamConfig? = nil) -> ModelFamily? {
        if sd.names.contains(where: { $0.hasPrefix("vq.") && $0.hasSuffix("_codebook.embed") }) { return .rtVQVAE }
        // improved_model.py's decoder: adaptive GroupNorm (`decoder.adaptive.{i}`); no codebook weights at all.
        if sd["decoder.adaptive.0.gamma.weight"] != nil, sd["encoder.conv_in.weight"] != nil { return .openMAGVIT2 }
        // GumbelQuantize: `quantize.proj` and `quantize.embed` (VectorQuantizer2 has `quantize.embedding`).
        if sd["quantize.proj.weight"] != nil, sd["quantize.embed.weight"] != nil, sd["encoder.conv_in.weight"] != nil { return .tamingVQGAN }
        // LlamaGen: taming's blocks under `conv_blocks.{i}.res.{j}`; it also has quantize.embedding + quant_conv.
        if ["encoder.conv_blocks.0.res.0.conv1.weight", "decoder.conv_blocks.0.res.0.conv1.weight",
            "quantize.embedding.weight", "quant_conv.weight"].allSatisfy({ sd[$0] != nil }) { return .llamagenVQ }
        // MaskGIT: taming-like `down`/`up` blocks, a bias-free conv_in and no quant_conv.
        if ["encoder.conv_in.weight", "encoder.down.0.block.0.conv1.weight", "decoder.up.0.block.0.conv1.weight",
            "quantize.embedding.weight"].allSatisfy({ sd[$0] != nil }),
           sd["encoder.conv_in.bias"] == nil, sd["quant_conv.weight"] == nil { return .maskgitVQGAN }
        if sd["quantize.embedding.weight"] != nil, sd["quant_conv.weight"] != nil {
            // IBQ's modules and keys are taming's. The config names its class; without one, LitEma shadows say IBQ
            // (every IBQ config trains with EMA; the released taming / latent-diffusion first stages carry none).
            if let target = yaml?.modelClass { return target.contains("IBQ") || target.contains("ibqgan") ? .ibq : .ldmVQGAN }
            return EMAWeightSource.present(in: sd) && sd["encoder.mid.block_1.conv1.weight"] != nil ? .ibq : .ldmVQGAN
        }
        if sd["pre_quant.weight"] != nil, sd["quantizer.embedding.weight"] != nil { return .vitVQGAN }
        return nil
    }

    /// Entries of a checkpoint dict the family's own evaluation takes its weights from, in its order, before the
    /// generic ones: LlamaGen's scripts take `ema`, then `model`, then `state_dict`.
    public var stateDictPreference: [String] { self == .llamagenVQ ? ["ema", "model", "state_dict"] : [] }

    /// The Hugging Face config file `save_pretrained` writes beside the weights of families released that way,
    /// read when no --config is given (what the weights cannot tell: LlamaGen's `codebook_l2_norm`).
    public var configBesideWeights: String? { self == .llamagenVQ || self == .maskgitVQGAN ? "config.json" : nil }
}

/// A model's family and hyper-parameters: what the loader builds and what `inspect` and reports show.
public enum ModelConfiguration: Sendable {
    case rtVQVAE(TamingConfig, embedDim: Int, codebookSize: Int, cosine: Bool)
    case ldmVQGAN(TamingConfig, nEmbed: Int, embedDim: Int)
    case vitVQGAN(ViTVQConfig)
    /// `emaWeights`: the weights are the checkpoint's `ema` entry.
    case llamagenVQ(LlamaGenArgs, emaWeights: Bool)
    case maskgitVQGAN(MaskGIT.Config)
    /// `emaWeights`: the weights are the LitEma shadows (`model_ema.*`).
    case openMAGVIT2(OpenMAGVIT2Config, emaWeights: Bool)
    case ibq(TamingConfig, nEmbed: Int, embedDim: Int, emaWeights: Bool)
    /// taming's GumbelVQ.
    case tamingVQGAN(TamingConfig, nEmbed: Int, embedDim: Int)

    public var family: ModelFamily {
        switch self {
        case .rtVQVAE: return .rtVQVAE
        case .ldmVQGAN: return .ldmVQGAN
        case .vitVQGAN: return .vitVQGAN
        case .llamagenVQ: return .llamagenVQ
        case .maskgitVQGAN: return .maskgitVQGAN
        case .openMAGVIT2: return .openMAGVIT2
        case .ibq: return .ibq
        case .tamingVQGAN: return .tamingVQGAN
        }
    }

    /// Whether the model runs EMA weights (as its upstream evaluation does) rather than the trained parameters.
    public var usesEMAWeights: Bool {
        switch self {
        case .llamagenVQ(_, let e), .openMAGVIT2(_, let e), .ibq(_, _, _, let e): return e
        default: return false
        }
    }

    /// Where the EMA weights come from, for `inspect` and reports; nil without EMA weights.
    public var emaWeightsNote: String? {
        guard usesEMAWeights else { return nil }
        switch self {
        case .llamagenVQ: return "EMA weights (the checkpoint's 'ema' entry), as LlamaGen's evaluation reads them"
        default: return "EMA weights (LitEma shadows model_ema.*), as SEED-Voken's evaluation_image.py runs them"
        }
    }

    /// The weights the model is built from: LitEma's shadows served under their parameters' names, or `sd` itself.
    public func weightSource(_ sd: StateDict) throws -> WeightSource {
        switch self {
        case .openMAGVIT2(_, true), .ibq(_, _, _, true): return try EMAWeightSource(sd)
        default: return StateDictWeightSource(sd)
        }
    }

    /// The model weights of `ckpt` and their configuration: the family (`forced`, else detected) decides which of
    /// the checkpoint's weights its upstream evaluation runs; `yaml` (else the Hugging Face config beside the
    /// checkpoint, for the families released that way) what the weights cannot tell.
    public static func derive(checkpoint ckpt: Checkpoint, family forced: ModelFamily? = nil,
                              yaml: UpstreamConfig? = nil) throws -> (configuration: ModelConfiguration, stateDict: StateDict) {
        var sd = try ckpt.stateDict()
        guard let family = forced ?? ModelFamily.detect(sd, yaml: yaml) else {
            throw ModelError.unknownFamily("\(sd.count) weights match none of the known key layouts")
        }
        if !family.stateDictPreference.isEmpty { sd = try ckpt.stateDict(preferring: family.stateDictPreference) }
        var config = yaml
        if config == nil, let name = family.configBesideWeights {
            let beside = URL(fileURLWithPath: ckpt.path).deletingLastPathComponent().appendingPathComponent(name).path
            if FileManager.default.fileExists(atPath: beside) { config = try UpstreamConfig.read(path: beside) }
        }
        return (try derive(sd, checkpoint: ckpt, family: family, yaml: config), sd)
    }

    /// The configuration of the model in `sd`: `family` (detected when nil), from keys and shapes, the checkpoint's
    /// metadata and `yaml`. Throws `ModelError` naming the first key that does not fit.
    public static func derive(_ sd: StateDict, checkpoint: Checkpoint, family forced: ModelFamily? = nil,
                              yaml: UpstreamConfig? = nil) throws -> ModelConfiguration {
        guard let family = forced ?? ModelFamily.detect(sd, yaml: yaml) else {
            throw ModelError.unknownFamily("\(sd.count) weights match none of the known key layouts")
        }
        switch family {
        case .rtVQVAE: return try rtVQVAE(sd, checkpoint)
        case .ldmVQGAN: return try ldmVQGAN(sd, yaml)
        case .vitVQGAN: return try .vitVQGAN(vitVQGAN(sd, yaml))
        case .llamagenVQ: return .llamagenVQ(try llamagenArgs(sd, checkpoint: checkpoint, config: yaml?.huggingFace),
                                             emaWeights: sd.source == "ema")
        case .maskgitVQGAN: return .maskgitVQGAN(try maskgitConfig(sd, config: yaml?.huggingFace))
        case .openMAGVIT2: return try openMAGVIT2(sd, yaml)
        case .ibq: return try ibq(sd, yaml)
        case .tamingVQGAN: return try tamingGumbelVQ(sd, yaml)
        }
    }

    /// Builds the model from `w` (its execution settings included).
    public func build(_ w: Weights) throws -> VQModel {
        switch self {
        case .rtVQVAE(let c, let d, let k, let cosine): return try RTVQVAE(w, config: c, embedDim: d, codebookSize: k, cosine: cosine)
        case .ldmVQGAN(let c, let k, let d): return try LDMVQGAN(w, config: c, nEmbed: k, embedDim: d)
        case .vitVQGAN(let c): return try ViTVQGAN(w, config: c)
        case .llamagenVQ(let a, _): return try LlamaGenVQ(w, args: a)
        case .maskgitVQGAN(let c): return try MaskGITVQGAN(w, config: c)
        case .openMAGVIT2(let c, let ema): return try OpenMAGVIT2(w, config: c, usesEMAWeights: ema)
        case .ibq(let c, let k, let d, let ema): return try IBQ(w, config: c, nEmbed: k, embedDim: d, usesEMAWeights: ema)
        case .tamingVQGAN(let c, let k, let d): return try TamingGumbelVQ(w, config: c, nEmbed: k, embedDim: d)
        }
    }

    /// Hyper-parameters as typed values, in the upstream config's names.
    public var hyperparameters: [(String, JSONValue)] {
        func ints(_ a: [Int]) -> JSONValue { .array(a.map { .int(Int64($0)) }) }
        func int(_ i: Int) -> JSONValue { .int(Int64(i)) }
        func taming(_ c: TamingConfig) -> [(String, JSONValue)] {
            [("ch", int(c.ch)), ("ch_mult", ints(c.chMult)), ("num_res_blocks", int(c.numResBlocks)),
             ("attn_resolutions", ints(c.attnResolutions)), ("attn_type", .string(c.attnType.rawValue)),
             ("resolution", int(c.resolution)), ("in_channels", int(c.inChannels)), ("z_channels", int(c.zChannels))]
        }
        switch self {
        case .rtVQVAE(let c, let d, let k, let cosine):
            return [("f", int(c.downsampling)), ("codebook", .string(cosine ? "cosine" : "euclidean")),
                    ("codebook_size", int(k)), ("codebook_dim", int(d))] + taming(c)
        case .ldmVQGAN(let c, let k, let d):
            return [("n_embed", int(k)), ("embed_dim", int(d))] + taming(c)
        case .vitVQGAN(let c):
            func part(_ p: ViTVQConfig.Part) -> JSONValue {
                .object([("dim", int(p.dim)), ("depth", int(p.depth)), ("heads", int(p.heads)), ("dim_head", int(p.dimHead)),
                         ("mlp_dim", int(p.mlpDim))])
            }
            return [("image_size", int(c.imageSize)), ("patch_size", int(c.patchSize)), ("encoder", part(c.encoder)),
                    ("decoder", part(c.decoder)), ("embed_dim", int(c.embedDim)), ("n_embed", int(c.nEmbed))]
        case .llamagenVQ(let a, let ema):
            var s: [(String, JSONValue)] = []
            if let n = a.upstreamName { s.append(("vq_model", .string(n))) }
            return s + [("f", int(a.downsampling)), ("ch", int(a.ch)), ("encoder_ch_mult", ints(a.encoderChMult)),
                        ("decoder_ch_mult", ints(a.decoderChMult)), ("num_res_blocks", int(a.numResBlocks)),
                        ("z_channels", int(a.zChannels)), ("codebook_size", int(a.codebookSize)),
                        ("codebook_embed_dim", int(a.codebookEmbedDim)), ("codebook_l2_norm", .bool(a.codebookL2Norm)),
                        ("ema_weights", .bool(ema))]
        case .maskgitVQGAN(let c):
            return [("f", int(c.downsampling)), ("hidden_channels", int(c.hiddenChannels)), ("channel_mult", ints(c.channelMult)),
                    ("num_res_blocks", int(c.numResBlocks)), ("z_channels", int(c.zChannels)),
                    ("num_embeddings", int(c.numEmbeddings))]
        case .openMAGVIT2(let c, let ema):
            // LFQ's codebook is implicit: 2^z_channels sign patterns.
            return [("f", int(c.downsampling)), ("ch", int(c.ch)), ("ch_mult", ints(c.chMult)),
                    ("num_res_blocks", int(c.numResBlocks)), ("z_channels", int(c.zChannels)),
                    ("quantizer", .string("lfq")), ("codebook_size", int(1 << min(c.zChannels, 62))),
                    ("ema_weights", .bool(ema))]
        case .ibq(let c, let k, let d, let ema):
            return [("n_embed", int(k)), ("embed_dim", int(d))] + taming(c)
                + [("quantizer", .string("ibq: argmax of the dot product")), ("ema_weights", .bool(ema))]
        case .tamingVQGAN(let c, let k, let d):
            return [("model", .string("GumbelVQ")), ("n_embed", int(k)), ("embed_dim", int(d))] + taming(c)
                + [("codes", .string("noise-free argmax of the Gumbel logits"))]
        }
    }

    // MARK: - per family

    static func shape(_ sd: StateDict, _ key: String) throws -> [Int] {
        guard let s = sd[key]?.shape else { throw ModelError.badConfig("weight '\(key)' is missing") }
        return s
    }

    /// The taming Encoder/Decoder hyper-parameters, read from the weight shapes.
    static func tamingConfig(_ sd: StateDict, resolution: Int = 256) throws -> TamingConfig {
        let convIn = try shape(sd, "encoder.conv_in.weight")
        guard convIn.count == 4 else { throw ModelError.badConfig("weight 'encoder.conv_in.weight' has shape \(convIn), expected 4 dimensions") }
        let ch = convIn[0]
        var mult: [Int] = [], attnLevels: [Int] = []
        var level = 0
        while let w = sd["encoder.down.\(level).block.0.conv1.weight"]?.shape, w.count == 4 {
            mult.append(w[0] / max(ch, 1))
            if sd.names.contains(where: { $0.hasPrefix("encoder.down.\(level).attn.") }) { attnLevels.append(level) }
            level += 1
        }
        guard !mult.isEmpty else { throw ModelError.badConfig("weight 'encoder.down.0.block.0.conv1.weight' is missing") }
        var blocks = 0
        while sd["encoder.down.0.block.\(blocks).conv1.weight"] != nil { blocks += 1 }
        let convOut = try shape(sd, "encoder.conv_out.weight")
        let hasMidAttention = sd["encoder.mid.attn_1.q.weight"] != nil
        return TamingConfig(ch: ch, outCh: try shape(sd, "decoder.conv_out.weight")[0], chMult: mult,
                            numResBlocks: blocks, attnResolutions: attnLevels.map { resolution >> $0 },
                            inChannels: convIn[1], resolution: resolution, zChannels: convOut[0], doubleZ: false,
                            attnType: hasMidAttention ? .vanilla : .none)
    }

    static func ldmVQGAN(_ sd: StateDict, _ yaml: UpstreamConfig?) throws -> ModelConfiguration {
        let dd = yaml?.params.ddconfig
        var config = try tamingConfig(sd, resolution: dd?.resolution ?? 256)
        if let a = dd?.attnResolutions { config.attnResolutions = a }
        if let t = dd?.attnType {
            guard let at = TamingAttention(rawValue: t) else { throw ModelError.badConfig("ddconfig.attn_type '\(t)' is not supported (vanilla, none)") }
            config.attnType = at
        }
        if let z = dd?.zChannels, z != config.zChannels {
            throw ModelError.badConfig("config ddconfig.z_channels \(z) does not match the weights' \(config.zChannels)")
        }
        let e = try shape(sd, "quantize.embedding.weight")
        guard e.count == 2 else { throw ModelError.badConfig("weight 'quantize.embedding.weight' has shape \(e), expected [n_embed, embed_dim]") }
        return .ldmVQGAN(config, nEmbed: e[0], embedDim: e[1])
    }

    static func rtVQVAE(_ sd: StateDict, _ ckpt: Checkpoint) throws -> ModelConfiguration {
        let config = try tamingConfig(sd)
        guard let embedKey = sd.names.first(where: { $0.hasPrefix("vq.") && $0.hasSuffix("_codebook.embed") }) else {
            throw ModelError.badConfig("weight 'vq._codebook.embed' is missing")
        }
        let e = try shape(sd, embedKey)
        guard e.count == 3, e[0] == 1 else { throw ModelError.badConfig("weight '\(embedKey)' has shape \(e), expected [1, K, D]") }
        // The Table 1 `args` say which codebook. Without them: the cosine model alone has a LayerNorm after its
        // projection; without projections (f=4), lucidrains stores the cosine codebook l2-normalised.
        let cosine: Bool
        if case .string(let c)? = ckpt.namespaceArgs()?["codebook"] {
            cosine = c.lowercased().contains("cos")
        } else if sd["pre_quant_proj.1.weight"] != nil {
            cosine = true
        } else {
            let values = try sd[embedKey]!.floats()
            let d = e[2]
            cosine = d > 0 && stride(from: 0, to: min(values.count, 64 * d), by: d).allSatisfy { start in
                abs(values[start..<(start + d)].reduce(0) { $0 + $1 * $1 } - 1) < 1e-3
            }
        }
        return .rtVQVAE(config, embedDim: e[2], codebookSize: e[1], cosine: cosine)
    }

    static func vitVQGAN(_ sd: StateDict, _ yaml: UpstreamConfig?) throws -> ViTVQConfig {
        var c = ViTVQConfig()
        let patch = try shape(sd, "encoder.to_patch_embedding.0.weight")
        guard patch.count == 4 else { throw ModelError.badConfig("weight 'encoder.to_patch_embedding.0.weight' has shape \(patch)") }
        c.patchSize = patch[2]
        let pos = try shape(sd, "encoder.en_pos_embedding")
        guard pos.count == 3 else { throw ModelError.badConfig("weight 'encoder.en_pos_embedding' has shape \(pos), expected [1, T, dim]") }
        let grid = Int(Double(pos[1]).squareRoot().rounded())
        guard grid * grid == pos[1] else { throw ModelError.badConfig("positional embedding of \(pos[1]) tokens is not a square grid") }
        c.imageSize = grid * c.patchSize
        func part(_ name: String, _ yamlPart: UpstreamConfig.ViTPart?) throws -> ViTVQConfig.Part {
            var depth = 0
            while sd["\(name).transformer.layers.\(depth).0.fn.to_qkv.weight"] != nil { depth += 1 }
            let qkv = try shape(sd, "\(name).transformer.layers.0.0.fn.to_qkv.weight")
            let mlp = try shape(sd, "\(name).transformer.layers.0.1.fn.net.0.weight")
            let dim = qkv[1], inner = qkv[0] / 3
            // Heads cannot be read from the weights: the YAML says, else dim_head is ViTEncoder's default 64.
            // Without `to_out` weights the attention had heads 1 and dim_head == dim (nn.Identity projection).
            var heads = yamlPart?.heads ?? max(1, inner / 64)
            var dimHead = yamlPart?.dimHead ?? inner / max(heads, 1)
            if sd["\(name).transformer.layers.0.0.fn.to_out.weight"] == nil { heads = 1; dimHead = dim }
            guard heads * dimHead == inner else {
                throw ModelError.badConfig("\(name): \(heads) heads x dim_head \(dimHead) != to_qkv inner size \(inner)")
            }
            return ViTVQConfig.Part(dim: dim, depth: depth, heads: heads, mlpDim: mlp[0], dimHead: dimHead)
        }
        c.encoder = try part("encoder", yaml?.params.encoder)
        c.decoder = try part("decoder", yaml?.params.decoder)
        let e = try shape(sd, "quantizer.embedding.weight")
        guard e.count == 2 else { throw ModelError.badConfig("weight 'quantizer.embedding.weight' has shape \(e), expected [n_embed, embed_dim]") }
        c.nEmbed = e[0]; c.embedDim = e[1]
        return c
    }

    /// The shape of `key`, which must have `rank` dimensions, all positive.
    static func shape(_ sd: StateDict, _ key: String, rank: Int) throws -> [Int] {
        let s = try shape(sd, key)
        guard s.count == rank, s.allSatisfy({ $0 > 0 }) else {
            throw ModelError.badConfig("weight '\(key)' has shape \(s), expected \(rank) positive dimensions")
        }
        return s
    }

    /// A size the config states must be the one the weights have.
    static func agree<T: Equatable>(_ key: String, stated: T?, weights: T) throws {
        if let stated, stated != weights { throw ModelError.badConfig("the config says \(key) = \(stated), the weights \(weights)") }
    }

    /// LlamaGen `ModelArgs` from the shapes. What the weights cannot tell, `codebook_l2_norm` (ModelArgs' default
    /// True, as in every release), comes from config.json or else the training `args` Namespace that vq_train.py
    /// pickles; sizes either states must agree with the weights.
    static func llamagenArgs(_ sd: StateDict, checkpoint: Checkpoint?, config: UpstreamConfig.HuggingFaceConfig?) throws -> LlamaGenArgs {
        var a = LlamaGenArgs()
        let convIn = try shape(sd, "encoder.conv_in.weight", rank: 4)
        a.ch = convIn[0]; a.inChannels = convIn[1]
        func multiple(_ key: String) throws -> Int {
            let out = try shape(sd, key, rank: 4)[0]
            guard out % a.ch == 0 else {
                throw ModelError.badConfig("weight '\(key)' has \(out) output channels, not a multiple of ch \(a.ch)")
            }
            return out / a.ch
        }
        a.encoderChMult = []
        while sd["encoder.conv_blocks.\(a.encoderChMult.count).res.0.conv1.weight"] != nil, a.encoderChMult.count < 16 {
            a.encoderChMult.append(try multiple("encoder.conv_blocks.\(a.encoderChMult.count).res.0.conv1.weight"))
        }
        guard !a.encoderChMult.isEmpty else { throw ModelError.badConfig("weight 'encoder.conv_blocks.0.res.0.conv1.weight' is missing") }
        a.numResBlocks = 0
        while sd["encoder.conv_blocks.0.res.\(a.numResBlocks).conv1.weight"] != nil, a.numResBlocks < 64 { a.numResBlocks += 1 }
        // The decoder's conv_blocks run from the lowest resolution up: block k is level L-1-k.
        var decoderReversed: [Int] = []
        while sd["decoder.conv_blocks.\(decoderReversed.count).res.0.conv1.weight"] != nil, decoderReversed.count < 16 {
            decoderReversed.append(try multiple("decoder.conv_blocks.\(decoderReversed.count).res.0.conv1.weight"))
        }
        guard !decoderReversed.isEmpty else { throw ModelError.badConfig("weight 'decoder.conv_blocks.0.res.0.conv1.weight' is missing") }
        a.decoderChMult = decoderReversed.reversed()
        a.zChannels = try shape(sd, "encoder.conv_out.weight", rank: 4)[0]
        a.outChannels = try shape(sd, "decoder.conv_out.weight", rank: 4)[0]
        let e = try shape(sd, "quantize.embedding.weight", rank: 2)
        a.codebookSize = e[0]; a.codebookEmbedDim = e[1]

        var l2 = config?.codebookL2Norm
        if l2 == nil, let args = checkpoint?.namespaceArgs() {
            if case .bool(let b)? = args["codebook_l2_norm"] { l2 = b }
            if case .int(let n)? = args["codebook_size"] { try agree("codebook_size", stated: Int(n), weights: a.codebookSize) }
            if case .int(let n)? = args["codebook_embed_dim"] { try agree("codebook_embed_dim", stated: Int(n), weights: a.codebookEmbedDim) }
        }
        if let l2 { a.codebookL2Norm = l2 }
        try agree("codebook_size", stated: config?.codebookSize, weights: a.codebookSize)
        try agree("codebook_embed_dim", stated: config?.codebookEmbedDim, weights: a.codebookEmbedDim)
        try agree("z_channels", stated: config?.zChannels, weights: a.zChannels)
        try agree("encoder_ch_mult", stated: config?.encoderChMult, weights: a.encoderChMult)
        try agree("decoder_ch_mult", stated: config?.decoderChMult, weights: a.decoderChMult)
        return a
    }

    /// MaskGIT-VQGAN's config from the shapes; open-muse's `config.json` may state the same fields, which must agree.
    static func maskgitConfig(_ sd: StateDict, config stated: UpstreamConfig.HuggingFaceConfig?) throws -> MaskGIT.Config {
        var c = MaskGIT.Config()
        let convIn = try shape(sd, "encoder.conv_in.weight", rank: 4)
        c.hiddenChannels = convIn[0]; c.numChannels = convIn[1]
        c.channelMult = []
        while sd["encoder.down.\(c.channelMult.count).block.0.conv1.weight"] != nil, c.channelMult.count < 16 {
            let key = "encoder.down.\(c.channelMult.count).block.0.conv1.weight"
            let out = try shape(sd, key, rank: 4)[0]
            guard out % c.hiddenChannels == 0 else {
                throw ModelError.badConfig("weight '\(key)' has \(out) output channels, not a multiple of hidden_channels \(c.hiddenChannels)")
            }
            c.channelMult.append(out / c.hiddenChannels)
        }
        guard !c.channelMult.isEmpty else { throw ModelError.badConfig("weight 'encoder.down.0.block.0.conv1.weight' is missing") }
        c.numResBlocks = 0
        while sd["encoder.down.0.block.\(c.numResBlocks).conv1.weight"] != nil, c.numResBlocks < 64 { c.numResBlocks += 1 }
        c.zChannels = try shape(sd, "encoder.conv_out.weight", rank: 4)[0]
        let e = try shape(sd, "quantize.embedding.weight", rank: 2)
        c.numEmbeddings = e[0]
        guard e[1] == c.zChannels else {
            throw ModelError.badConfig("weight 'quantize.embedding.weight' has shape \(e), expected [\(e[0]), \(c.zChannels)] (z_channels)")
        }
        try agree("hidden_channels", stated: stated?.hiddenChannels, weights: c.hiddenChannels)
        try agree("num_channels", stated: stated?.numChannels, weights: c.numChannels)
        try agree("channel_mult", stated: stated?.channelMult, weights: c.channelMult)
        try agree("num_res_blocks", stated: stated?.numResBlocks, weights: c.numResBlocks)
        try agree("z_channels", stated: stated?.zChannels, weights: c.zChannels)
        try agree("num_embeddings", stated: stated?.numEmbeddings, weights: c.numEmbeddings)
        try agree("quantized_embed_dim", stated: stated?.quantizedEmbedDim, weights: c.zChannels)
        return c
    }

    /// SEED-Voken's evaluation runs the LitEma shadows when the model keeps them (`use_ema`, true in every released
    /// config): so does vqrt when the checkpoint has them, unless the config says `use_ema: false`.
    static func seedVokenUsesEMA(_ sd: StateDict, _ yaml: UpstreamConfig?) -> Bool {
        EMAWeightSource.present(in: sd) && yaml?.params.useEMA != false
    }

    /// Open-MAGVIT2's Encoder/Decoder config from the shapes; an Open-MAGVIT2 config must agree with them.
    static func openMAGVIT2(_ sd: StateDict, _ yaml: UpstreamConfig?) throws -> ModelConfiguration {
        let convIn = try shape(sd, "encoder.conv_in.weight", rank: 4)
        let ch = convIn[0]
        var mult: [Int] = []
        while let w = sd["encoder.down.\(mult.count).block.0.conv1.weight"]?.shape, w.count == 4, mult.count < 16 {
            guard w[0] % ch == 0 else {
                throw ModelError.badConfig("weight 'encoder.down.\(mult.count).block.0.conv1.weight' has shape \(w), not a multiple of ch \(ch)")
            }
            mult.append(w[0] / ch)
        }
        guard !mult.isEmpty else { throw ModelError.badConfig("weight 'encoder.down.0.block.0.conv1.weight' is missing") }
        var blocks = 0
        while sd["encoder.down.0.block.\(blocks).conv1.weight"] != nil, blocks < 64 { blocks += 1 }
        let convOut = try shape(sd, "encoder.conv_out.weight", rank: 4)
        let decOut = try shape(sd, "decoder.conv_out.weight", rank: 4)
        let c = OpenMAGVIT2Config(ch: ch, outCh: decOut[0], inChannels: convIn[1], chMult: mult, numResBlocks: blocks,
                                  zChannels: convOut[0])
        if let target = yaml?.modelClass, target.contains("Open_MAGVIT2") || target.contains("lfqgan") {
            let p = yaml!.params
            try agree("ddconfig.ch", stated: p.ddconfig?.ch, weights: c.ch)
            try agree("ddconfig.z_channels", stated: p.ddconfig?.zChannels, weights: c.zChannels)
            try agree("ddconfig.num_res_blocks", stated: p.ddconfig?.numResBlocks, weights: c.numResBlocks)
            try agree("ddconfig.ch_mult", stated: p.ddconfig?.chMult, weights: c.chMult)
            try agree("embed_dim", stated: p.embedDim, weights: c.zChannels)
            if c.zChannels < 62 { try agree("n_embed (2^z_channels: LFQ's bits are the latent channels)", stated: p.nEmbed, weights: 1 << c.zChannels) }
            if p.tokenFactorization == true {
                throw ModelError.badConfig("token_factorization: true is the transformer stage's setting; the tokenizer's codes are unfactorised")
            }
        }
        return .openMAGVIT2(c, emaWeights: seedVokenUsesEMA(sd, yaml))
    }

    /// IBQ: taming's Encoder/Decoder (shapes, refined by the config's ddconfig) and a 2-D codebook.
    static func ibq(_ sd: StateDict, _ yaml: UpstreamConfig?) throws -> ModelConfiguration {
        let (config, e) = try tamingWithCodebook(sd, yaml, codebookKey: "quantize.embedding.weight")
        return .ibq(config, nEmbed: e[0], embedDim: e[1], emaWeights: seedVokenUsesEMA(sd, yaml))
    }

    /// taming's GumbelVQ: `quantize.embed` holds the codebook, `quantize.proj` the logits' 1x1 convolution.
    static func tamingGumbelVQ(_ sd: StateDict, _ yaml: UpstreamConfig?) throws -> ModelConfiguration {
        let (config, e) = try tamingWithCodebook(sd, yaml, codebookKey: "quantize.embed.weight")
        return .tamingVQGAN(config, nEmbed: e[0], embedDim: e[1])
    }

    static func tamingWithCodebook(_ sd: StateDict, _ yaml: UpstreamConfig?, codebookKey: String) throws -> (TamingConfig, [Int]) {
        let p = yaml?.params
        var config = try tamingConfig(sd, resolution: p?.ddconfig?.resolution ?? 256)
        if let a = p?.ddconfig?.attnResolutions { config.attnResolutions = a }
        try agree("ddconfig.z_channels", stated: p?.ddconfig?.zChannels, weights: config.zChannels)
        let e = try shape(sd, codebookKey, rank: 2)
        try agree("n_embed", stated: p?.nEmbed, weights: e[0])
        if p?.remap != nil { throw ModelError.badConfig("remap (a codebook index remapping file) is not supported") }
        return (config, e)
    }
}
