// Which family a state dict belongs to and the hyper-parameters its keys and shapes (and the Table 1 `args`, and
// the upstream YAML where the weights cannot tell) reveal: derived once, here, for `inspect` and the loader alike.

import NN
import TorchFormats

public enum ModelFamily: String, CaseIterable, Sendable {
    /// Table 1 VQ-VAEs of the rotation_trick repo (taming-style encoder/decoder, lucidrains VectorQuantize).
    case rtVQVAE = "rt-vqvae"
    /// Table 3 VQGANs: latent-diffusion VQModel / taming VQGAN.
    case ldmVQGAN = "ldm-vqgan"
    /// Table 4 ViT-VQGAN: enhancing-transformers ViTVQ.
    case vitVQGAN = "vit-vqgan"

    /// The family whose characteristic keys the state dict has, or nil.
    public static func detect(_ sd: StateDict) -> ModelFamily? {
        if sd.names.contains(where: { $0.hasPrefix("vq.") && $0.hasSuffix("_codebook.embed") }) { return .rtVQVAE }
        if sd["quantize.embedding.weight"] != nil, sd["quant_conv.weight"] != nil { return .ldmVQGAN }
        if sd["pre_quant.weight"] != nil, sd["quantizer.embedding.weight"] != nil { return .vitVQGAN }
        return nil
    }
}

/// A model's family and hyper-parameters: what the loader builds and what `inspect` and reports show.
public enum ModelConfiguration: Sendable {
    case rtVQVAE(TamingConfig, embedDim: Int, codebookSize: Int, cosine: Bool)
    case ldmVQGAN(TamingConfig, nEmbed: Int, embedDim: Int)
    case vitVQGAN(ViTVQConfig)

    public var family: ModelFamily {
        switch self {
        case .rtVQVAE: return .rtVQVAE
        case .ldmVQGAN: return .ldmVQGAN
        case .vitVQGAN: return .vitVQGAN
        }
    }

    /// The configuration of the model in `sd`: `family` (detected when nil), from keys and shapes, the checkpoint's
    /// metadata and `yaml`. Throws `ModelError` naming the first key that does not fit.
    public static func derive(_ sd: StateDict, checkpoint: Checkpoint, family forced: ModelFamily? = nil,
                              yaml: UpstreamConfig? = nil) throws -> ModelConfiguration {
        guard let family = forced ?? ModelFamily.detect(sd) else {
            throw ModelError.unknownFamily("\(sd.count) weights match none of the known key layouts")
        }
        switch family {
        case .rtVQVAE: return try rtVQVAE(sd, checkpoint)
        case .ldmVQGAN: return try ldmVQGAN(sd, yaml)
        case .vitVQGAN: return try .vitVQGAN(vitVQGAN(sd, yaml))
        }
    }

    /// Builds the model from `w` (its execution settings included).
    public func build(_ w: Weights) throws -> VQModel {
        switch self {
        case .rtVQVAE(let c, let d, let k, let cosine): return try RTVQVAE(w, config: c, embedDim: d, codebookSize: k, cosine: cosine)
        case .ldmVQGAN(let c, let k, let d): return try LDMVQGAN(w, config: c, nEmbed: k, embedDim: d)
        case .vitVQGAN(let c): return try ViTVQGAN(w, config: c)
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
}
