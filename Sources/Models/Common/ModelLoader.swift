// Building a model from a checkpoint: family detection (or --family), hyper-parameters from the weights' keys and
// shapes, refined by the upstream YAML config when given, then every key accounted for.

import Foundation
import NN
import Tensor
import TorchFormats
import Yams

public struct LoadedModel {
    public let model: VQModel
    public let checkpoint: Checkpoint
    public let stateDict: StateDict
    /// Keys present but deliberately unused (EMA statistics of the codebook, LitEma bookkeeping...).
    public let ignoredKeys: [String]
    /// How many weights were taken from the checkpoint's LitEma shadows (`model_ema.*`) instead of the
    /// parameters themselves, as SEED-Voken's evaluation does (0: the parameters).
    public let emaWeights: Int
}

public enum ModelLoader {
    /// Buffers that inference never reads (lucidrains EMA state, taming remap table when unused).
    static let inferenceIgnored = ["_codebook.initted", "_codebook.cluster_size", "_codebook.embed_avg"]

    public static func load(path: String, family forced: ModelFamily? = nil, configPath: String? = nil) throws -> LoadedModel {
        let ckpt = try Checkpoint.open(path: path)
        let sd = try ckpt.stateDict()
        let yaml = try configPath.map { try loadYAML($0) }
        guard let family = forced ?? detect(sd, checkpoint: ckpt, yaml: yaml) else {
            throw ModelError.unknownFamily("\(sd.count) weights match none of the known key layouts")
        }
        // SEED-Voken's evaluation runs inside `ema_scope()` when the config trains with EMA (all released ones
        // do): their families take the LitEma shadows when the checkpoint has them, unless the YAML says
        // `use_ema: false`. Other families leave `model_ema.*` aside.
        let emaFamily = family == .openMAGVIT2 || family == .ibq
        let useEMA = emaFamily && EMAWeightSource.present(in: sd) && initArgs(yaml)["use_ema"] as? Bool != false
        let ema = useEMA ? try EMAWeightSource(sd) : nil
        let loader = WeightLoader(ema ?? StateDictWeightSource(sd))
        let model: VQModel
        switch family {
        case .ldmVQGAN: model = try buildLDM(loader.root, sd, yaml)
        case .rtVQVAE: model = try buildRT(loader.root, sd, ckpt)
        case .vitVQGAN: model = try buildViT(loader.root, sd, yaml)
        case .openMAGVIT2: model = try OpenMAGVIT2.build(loader.root, sd, yaml: yaml, usesEMAWeights: useEMA)
        case .ibq: model = try IBQ.build(loader.root, sd, yaml: yaml, usesEMAWeights: useEMA)
        case .tamingVQGAN:
            // taming's standard VQModel is latent-diffusion's (same modules and keys).
            model = TamingGumbelVQ.matches(sd) ? try TamingGumbelVQ.build(loader.root, sd, yaml: yaml) : try buildLDM(loader.root, sd, yaml)
        }
        let report = try loader.finish(ignoring: ["loss.", EMAWeightSource.prefix])
        try ema?.checkComplete(used: loader.used)
        var ignored = report.unexpected.filter { k in inferenceIgnored.contains { k.hasSuffix($0) } }
        let unexpected = report.unexpected.filter { !ignored.contains($0) }
        guard unexpected.isEmpty else {
            throw ModelError.badConfig("\(unexpected.count) checkpoint weight(s) are not used by the detected \(family.rawValue) configuration: \(unexpected.prefix(8).joined(separator: ", "))\(unexpected.count > 8 ? ", ..." : "")")
        }
        ignored += ema?.unusedShadows ?? sd.names.filter { $0.hasPrefix(EMAWeightSource.prefix) }
        // Every layer holds its own copy of its weights now: the mapped file need not stay resident (~the
        // checkpoint's size off the peak memory of every run).
        ckpt.releaseResidentPages()
        return LoadedModel(model: model, checkpoint: ckpt, stateDict: sd, ignoredKeys: ignored, emaWeights: ema?.served.count ?? 0)
    }

    /// The family of a state dict: the new families' own predicates first (their keys would also pass some of
    /// FamilyGuess's looser tests), then FamilyGuess.
    public static func detect(_ sd: StateDict, checkpoint: Checkpoint? = nil, yaml: [String: Any]? = nil) -> ModelFamily? {
        if OpenMAGVIT2.matches(sd) { return .openMAGVIT2 }
        if TamingGumbelVQ.matches(sd) { return .tamingVQGAN }
        if IBQ.matches(sd, yaml: yaml) { return .ibq }
        return FamilyGuess.detect(sd, checkpoint: checkpoint)?.family
    }

    static func loadYAML(_ path: String) throws -> [String: Any] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ModelError.badConfig("cannot read \(path)") }
        guard let parsed = try? Yams.load(yaml: text), let root = parsed as? [String: Any] else {
            throw ModelError.badConfig("\(path) is not a YAML mapping")
        }
        return root
    }

    /// `model.params` of a latent-diffusion / taming / enhancing-transformers config.
    static func params(_ yaml: [String: Any]?) -> [String: Any] {
        ((yaml?["model"] as? [String: Any])?["params"] as? [String: Any]) ?? [:]
    }

    /// The model's constructor arguments: `model.init_args` (LightningCLI configs: SEED-Voken), else
    /// `model.params` (taming / latent-diffusion `instantiate_from_config`).
    static func initArgs(_ yaml: [String: Any]?) -> [String: Any] {
        ((yaml?["model"] as? [String: Any])?["init_args"] as? [String: Any]) ?? params(yaml)
    }

    /// The model class the YAML names: `model.class_path` (LightningCLI) or `model.target`.
    static func modelTarget(_ yaml: [String: Any]?) -> String? {
        let m = yaml?["model"] as? [String: Any]
        return m?["class_path"] as? String ?? m?["target"] as? String
    }

    static func shape(_ sd: StateDict, _ key: String) throws -> [Int] {
        guard let s = sd[key]?.shape else { throw ModelError.badConfig("weight '\(key)' is missing") }
        return s
    }

    /// The shape of `key`, which must have `rank` dimensions, all positive.
    static func shape(_ sd: StateDict, _ key: String, rank: Int) throws -> [Int] {
        let s = try shape(sd, key)
        guard s.count == rank, s.allSatisfy({ $0 > 0 }) else {
            throw ModelError.badConfig("weight '\(key)' has shape \(s), expected \(rank) positive dimensions")
        }
        return s
    }

    /// The taming Encoder/Decoder hyper-parameters, read from the weight shapes.
    static func tamingConfig(_ sd: StateDict, prefix: String = "", resolution: Int = 256) throws -> TamingConfig {
        let convIn = try shape(sd, "\(prefix)encoder.conv_in.weight", rank: 4)
        let ch = convIn[0]
        var mult: [Int] = [], attnLevels: [Int] = []
        var level = 0
        while let w = sd["\(prefix)encoder.down.\(level).block.0.conv1.weight"]?.shape, w.count == 4, level < 16 {
            mult.append(w[0] / ch)
            if sd.names.contains(where: { $0.hasPrefix("\(prefix)encoder.down.\(level).attn.") }) { attnLevels.append(level) }
            level += 1
        }
        guard !mult.isEmpty else { throw ModelError.badConfig("no encoder.down.* blocks") }
        var blocks = 0
        while sd["\(prefix)encoder.down.0.block.\(blocks).conv1.weight"] != nil && blocks < 64 { blocks += 1 }
        let convOut = try shape(sd, "\(prefix)encoder.conv_out.weight", rank: 4)
        let hasMidAttention = sd["\(prefix)encoder.mid.attn_1.q.weight"] != nil
        return TamingConfig(ch: ch, outCh: try shape(sd, "\(prefix)decoder.conv_out.weight", rank: 4)[0], chMult: mult,
                            numResBlocks: blocks, attnResolutions: attnLevels.map { resolution >> $0 },
                            inChannels: convIn[1], resolution: resolution, zChannels: convOut[0], doubleZ: false,
                            attnType: hasMidAttention ? .vanilla : .none)
    }

    static func buildLDM(_ w: Weights, _ sd: StateDict, _ yaml: [String: Any]?) throws -> VQModel {
        let p = params(yaml)
        let dd = p["ddconfig"] as? [String: Any] ?? [:]
        var config = try tamingConfig(sd, resolution: dd["resolution"] as? Int ?? 256)
        if let a = dd["attn_resolutions"] as? [Int] { config.attnResolutions = a }
        if let t = dd["attn_type"] as? String, let at = TamingAttention(rawValue: t) { config.attnType = at }
        if let z = dd["z_channels"] as? Int, z != config.zChannels { throw ModelError.badConfig("config z_channels \(z) != weights \(config.zChannels)") }
        let e = try shape(sd, "quantize.embedding.weight", rank: 2)
        return try LDMVQGAN(w, config: config, nEmbed: e[0], embedDim: e[1])
    }

    static func buildRT(_ w: Weights, _ sd: StateDict, _ ckpt: Checkpoint) throws -> VQModel {
        let config = try tamingConfig(sd)
        guard let embedKey = sd.names.first(where: { $0.hasSuffix("_codebook.embed") }), embedKey.hasPrefix("vq.") else {
            throw ModelError.badConfig("weight 'vq._codebook.embed' is missing")
        }
        let e = try shape(sd, embedKey)
        guard e.count == 3, e[0] == 1 else { throw ModelError.badConfig("\(embedKey) has shape \(e), expected [1, K, D]") }
        // The Table 1 args say which codebook; without them, a codebook of unit vectors is the cosine one
        // (lucidrains stores it l2-normalised).
        let cosine: Bool
        if case .string(let c)? = ckpt.namespaceArgs()?["codebook"] {
            cosine = c.lowercased().contains("cos")
        } else if sd["pre_quant_proj.1.weight"] != nil {
            cosine = true
        } else {
            let values = try sd[embedKey]!.floats()
            let d = e[2]
            cosine = stride(from: 0, to: min(values.count, 64 * d), by: d).allSatisfy { start in
                abs(values[start..<(start + d)].reduce(0) { $0 + $1 * $1 } - 1) < 1e-3
            }
        }
        return try RTVQVAE(w, config: config, embedDim: e[2], codebookSize: e[1], cosine: cosine)
    }

    static func buildViT(_ w: Weights, _ sd: StateDict, _ yaml: [String: Any]?) throws -> VQModel {
        var c = ViTVQConfig()
        let patch = try shape(sd, "encoder.to_patch_embedding.0.weight")
        c.patchSize = patch[2]
        let pos = try shape(sd, "encoder.en_pos_embedding")
        let grid = Int(Double(pos[1]).squareRoot().rounded())
        guard grid * grid == pos[1] else { throw ModelError.badConfig("positional embedding of \(pos[1]) tokens is not a square grid") }
        c.imageSize = grid * c.patchSize
        let p = params(yaml)
        func part(_ name: String) throws -> ViTVQConfig.Part {
            var depth = 0
            while sd["\(name).transformer.layers.\(depth).0.fn.to_qkv.weight"] != nil { depth += 1 }
            let qkv = try shape(sd, "\(name).transformer.layers.0.0.fn.to_qkv.weight")
            let mlp = try shape(sd, "\(name).transformer.layers.0.1.fn.net.0.weight")
            let dim = qkv[1], inner = qkv[0] / 3
            let yamlPart = p[name] as? [String: Any] ?? [:]
            // Heads cannot be read from the weights: the YAML says, else dim_head is ViTEncoder's default 64.
            // Without `to_out` weights the attention had heads 1 and dim_head == dim (nn.Identity projection).
            var heads = yamlPart["heads"] as? Int ?? max(1, inner / 64)
            var dimHead = yamlPart["dim_head"] as? Int ?? inner / max(heads, 1)
            if sd["\(name).transformer.layers.0.0.fn.to_out.weight"] == nil { heads = 1; dimHead = dim }
            guard heads * dimHead == inner else {
                throw ModelError.badConfig("\(name): \(heads) heads x dim_head \(dimHead) != to_qkv inner size \(inner)")
            }
            return ViTVQConfig.Part(dim: dim, depth: depth, heads: heads, mlpDim: mlp[0], dimHead: dimHead)
        }
        c.encoder = try part("encoder")
        c.decoder = try part("decoder")
        let e = try shape(sd, "quantizer.embedding.weight")
        c.nEmbed = e[0]; c.embedDim = e[1]
        return try ViTVQGAN(w, config: c)
    }
}
