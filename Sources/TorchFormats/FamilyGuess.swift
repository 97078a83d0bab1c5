// Which of the three VQ families a state dict belongs to, and the hyper-parameters its keys and shapes reveal.
// (The models build from the same facts; `--family` / `--config` override.)

import PickleVM

public enum ModelFamily: String, CaseIterable, Sendable {
    /// Table 1 VQ-VAEs of the rotation_trick repo (taming-style encoder/decoder, lucidrains VectorQuantize).
    case rtVQVAE = "rt-vqvae"
    /// Table 3 VQGANs: latent-diffusion VQModel / taming VQGAN.
    case ldmVQGAN = "ldm-vqgan"
    /// Table 4 ViT-VQGAN: enhancing-transformers ViTVQ.
    case vitVQGAN = "vit-vqgan"
    /// SEED-Voken Open-MAGVIT2 (lookup-free quantisation).
    case openMAGVIT2 = "open-magvit2"
    /// SEED-Voken IBQ (index backpropagation quantisation).
    case ibq = "ibq"
    /// taming-transformers GumbelVQ (its standard VQModel is `ldm-vqgan`).
    case tamingVQGAN = "taming-vqgan"
}

public struct FamilyGuess {
    public let family: ModelFamily
    public let config: [(String, JSONValue)]

    public static func detect(_ sd: StateDict, checkpoint: Checkpoint? = nil) -> FamilyGuess? {
        let names = Set(sd.names)
        func shape(_ n: String) -> [Int]? { sd[n]?.shape }
        if let embed = sd.names.first(where: { $0.hasSuffix("_codebook.embed") }), let s = shape(embed) {
            var config: [(String, JSONValue)] = []
            let (k, d) = s.count == 3 ? (s[1], s[2]) : (s.first ?? 0, s.last ?? 0)
            config.append(("codebook_size", .int(Int64(k))))
            config.append(("codebook_dim", .int(Int64(d))))
            if let args = checkpoint?.namespaceArgs() {
                for key in ["f", "codebook", "rotation_trick", "dataset"] where args[key] != nil { config.append((key, args[key]!)) }
            }
            if !config.contains(where: { $0.0 == "codebook" }) {
                // lucidrains stores the cosine codebook as CosineSimCodebook; its state has no `embed_avg`.
                let cosine = !names.contains(where: { $0.hasSuffix("_codebook.embed_avg") })
                config.append(("codebook", .string(cosine ? "cosine" : "euclidean")))
            }
            config += taming(sd, prefix: "")
            return FamilyGuess(family: .rtVQVAE, config: config)
        }
        // SEED-Voken / taming GumbelVQ (Models/OpenMAGVIT2, IBQ, Taming hold the loader's own predicates).
        if names.contains("decoder.adaptive.0.gamma.weight"), let z = shape("encoder.conv_out.weight"), z.count == 4 {
            var config: [(String, JSONValue)] = [("lfq_bits", .int(Int64(z[0]))), ("codebook_size", .string("2^\(z[0])"))]
            config += taming(sd, prefix: "")
            config.append(("ema_weights", .bool(names.contains { $0.hasPrefix("model_ema.") })))
            return FamilyGuess(family: .openMAGVIT2, config: config)
        }
        if names.contains("quantize.proj.weight"), let e = shape("quantize.embed.weight"), e.count == 2 {
            var config: [(String, JSONValue)] = [("model", .string("GumbelVQ")), ("n_embed", .int(Int64(e[0]))), ("embed_dim", .int(Int64(e[1])))]
            config += taming(sd, prefix: "")
            return FamilyGuess(family: .tamingVQGAN, config: config)
        }
        if names.contains("quantize.embedding.weight"), names.contains("quant_conv.weight"),
           names.contains(where: { $0.hasPrefix("model_ema.") && $0 != "model_ema.decay" && $0 != "model_ema.num_updates" }),
           let e = shape("quantize.embedding.weight") {
            var config: [(String, JSONValue)] = [("n_embed", .int(Int64(e[0]))), ("embed_dim", .int(Int64(e.last ?? 0)))]
            config += taming(sd, prefix: "")
            config.append(("ema_weights", .bool(true)))
            return FamilyGuess(family: .ibq, config: config)
        }
        if names.contains("quantize.embedding.weight"), names.contains("quant_conv.weight"), let e = shape("quantize.embedding.weight") {
            var config: [(String, JSONValue)] = [("n_embed", .int(Int64(e[0]))), ("embed_dim", .int(Int64(e.last ?? 0)))]
            config += taming(sd, prefix: "")
            return FamilyGuess(family: .ldmVQGAN, config: config)
        }
        if names.contains("pre_quant.weight"), let e = shape("quantizer.embedding.weight") {
            var config: [(String, JSONValue)] = [("n_embed", .int(Int64(e[0]))), ("embed_dim", .int(Int64(e.last ?? 0)))]
            if let p = shape("pre_quant.weight") { config.append(("dim", .int(Int64(p.last ?? 0)))) }
            let depth = Set(sd.names.compactMap { n -> Int? in
                guard n.hasPrefix("encoder.transformer.layers.") else { return nil }
                return Int(n.dropFirst("encoder.transformer.layers.".count).prefix { $0 != "." })
            }).count
            config.append(("depth", .int(Int64(depth))))
            if let pos = sd.names.first(where: { $0.hasPrefix("encoder.") && $0.hasSuffix("en_pos_embedding") }), let s = shape(pos) {
                config.append(("tokens", .int(Int64(s.count >= 2 ? s[s.count - 2] : 0))))
            }
            return FamilyGuess(family: .vitVQGAN, config: config)
        }
        return nil
    }

    /// Encoder hyper-parameters of the taming / latent-diffusion encoder, read from shapes.
    static func taming(_ sd: StateDict, prefix: String) -> [(String, JSONValue)] {
        guard let conv = sd["\(prefix)encoder.conv_in.weight"]?.shape, conv.count == 4 else { return [] }
        let ch = conv[0]
        var mult: [JSONValue] = []
        var attn: [JSONValue] = []
        var level = 0
        var resBlocks = 0
        while let w = sd["\(prefix)encoder.down.\(level).block.0.conv1.weight"]?.shape {
            mult.append(.int(Int64(w[0] / max(ch, 1))))
            if sd.names.contains(where: { $0.hasPrefix("\(prefix)encoder.down.\(level).attn.") }) { attn.append(.int(Int64(level))) }
            if level == 0 {
                while sd["\(prefix)encoder.down.0.block.\(resBlocks).conv1.weight"] != nil { resBlocks += 1 }
            }
            level += 1
        }
        var out: [(String, JSONValue)] = [("ch", .int(Int64(ch))), ("in_channels", .int(Int64(conv[1]))), ("ch_mult", .array(mult)),
                                          ("num_res_blocks", .int(Int64(resBlocks))), ("attn_levels", .array(attn))]
        if let z = sd["\(prefix)encoder.conv_out.weight"]?.shape { out.append(("z_channels", .int(Int64(z[0])))) }
        return out
    }
}

extension Checkpoint {
    /// The Table 1 `args` Namespace as plain values.
    public func namespaceArgs() -> [String: JSONValue]? {
        guard case .dict(let d) = root, case .object(let o) = d[string: "args"] ?? .none else { return nil }
        var out: [String: JSONValue] = [:]
        for (k, v) in o.attributes.entries { out[k.description] = PlainValues.convert(v) }
        return out
    }
}
