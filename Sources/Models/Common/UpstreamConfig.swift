// The upstream configs, typed: latent-diffusion / taming `config.yaml` / `model.yaml` (`model.params.ddconfig`,
// `embed_dim`, `n_embed`), enhancing-transformers `configs/*.yaml` (`model.params.encoder/decoder`, `quantizer`),
// SEED-Voken's LightningCLI configs (`model.class_path`, `model.init_args`: the same fields plus `use_ema`), and the
// Hugging Face `config.json` that LlamaGen's `VQModelHF` and open-muse's `MaskGitVQGAN` write beside their weights
// (flat constructor arguments). Only what the weights cannot tell is read; every other key is ignored, as upstream's
// own trainers ignore unknown ones.

import Foundation
import Yams

public struct UpstreamConfig: Decodable, Sendable {
    /// The YAML's `model` section (nil in a Hugging Face config.json).
    public var model: Model?
    /// A Hugging Face config.json's fields (all nil in a YAML config).
    public var huggingFace: HuggingFaceConfig

    public struct Model: Decodable, Sendable {
        /// `instantiate_from_config`'s class (taming, latent-diffusion, enhancing-transformers).
        public var target: String?
        public var params: Params?
        /// LightningCLI's class and constructor arguments (SEED-Voken).
        public var classPath: String?
        public var initArgs: Params?

        enum CodingKeys: String, CodingKey { case target, params, classPath = "class_path", initArgs = "init_args" }
    }

    enum CodingKeys: String, CodingKey { case model }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decodeIfPresent(Model.self, forKey: .model)
        huggingFace = try HuggingFaceConfig(from: decoder)
        if model == nil && huggingFace.isEmpty {
            throw DecodingError.keyNotFound(CodingKeys.model, .init(codingPath: [], debugDescription: "no model section"))
        }
    }

    /// The model class the config names (`model.class_path` or `model.target`).
    public var modelClass: String? { model?.classPath ?? model?.target }

    public struct Params: Decodable, Sendable {
        /// latent-diffusion / taming VQModel.
        public var embedDim: Int?
        public var nEmbed: Int?
        public var ddconfig: DDConfig?
        /// taming `remap` (a codebook index remapping file; not supported).
        public var remap: String?
        /// SEED-Voken: whether the model keeps LitEma shadows (its evaluation then runs them).
        public var useEMA: Bool?
        /// SEED-Voken Open-MAGVIT2: the transformer stage's factorised codes.
        public var tokenFactorization: Bool?
        /// enhancing-transformers ViTVQ.
        public var imageSize: Int?
        public var patchSize: Int?
        public var encoder: ViTPart?
        public var decoder: ViTPart?

        enum CodingKeys: String, CodingKey {
            case embedDim = "embed_dim", nEmbed = "n_embed", ddconfig, remap, useEMA = "use_ema"
            case tokenFactorization = "token_factorization"
            case imageSize = "image_size", patchSize = "patch_size", encoder, decoder
        }
    }

    /// The flat constructor arguments of a Hugging Face `config.json`: LlamaGen `ModelArgs` (`VQModelHF`) and
    /// open-muse `MaskGitVQGAN`. Sizes stated here must agree with the weights.
    public struct HuggingFaceConfig: Decodable, Sendable {
        // LlamaGen ModelArgs.
        public var codebookSize: Int?
        public var codebookEmbedDim: Int?
        public var codebookL2Norm: Bool?
        public var encoderChMult: [Int]?
        public var decoderChMult: [Int]?
        // open-muse MaskGitVQGAN.
        public var hiddenChannels: Int?
        public var numChannels: Int?
        public var channelMult: [Int]?
        public var numResBlocks: Int?
        public var numEmbeddings: Int?
        public var quantizedEmbedDim: Int?
        // Both.
        public var zChannels: Int?

        enum CodingKeys: String, CodingKey {
            case codebookSize = "codebook_size", codebookEmbedDim = "codebook_embed_dim", codebookL2Norm = "codebook_l2_norm"
            case encoderChMult = "encoder_ch_mult", decoderChMult = "decoder_ch_mult"
            case hiddenChannels = "hidden_channels", numChannels = "num_channels", channelMult = "channel_mult"
            case numResBlocks = "num_res_blocks", numEmbeddings = "num_embeddings", quantizedEmbedDim = "quantized_embed_dim"
            case zChannels = "z_channels"
        }

        public init() {}

        var isEmpty: Bool {
            codebookSize == nil && codebookEmbedDim == nil && codebookL2Norm == nil && encoderChMult == nil
                && decoderChMult == nil && hiddenChannels == nil && numChannels == nil && channelMult == nil
                && numResBlocks == nil && numEmbeddings == nil && quantizedEmbedDim == nil && zChannels == nil
        }
    }

    public struct DDConfig: Decodable, Sendable {
        public var resolution: Int?
        public var attnResolutions: [Int]?
        public var attnType: String?
        public var zChannels: Int?
        public var chMult: [Int]?
        public var ch: Int?
        public var numResBlocks: Int?

        enum CodingKeys: String, CodingKey {
            case resolution, attnResolutions = "attn_resolutions", attnType = "attn_type", zChannels = "z_channels"
            case chMult = "ch_mult", ch, numResBlocks = "num_res_blocks"
        }
    }

    public struct ViTPart: Decodable, Sendable {
        public var dim: Int?
        public var depth: Int?
        public var heads: Int?
        public var mlpDim: Int?
        public var dimHead: Int?

        enum CodingKeys: String, CodingKey { case dim, depth, heads, mlpDim = "mlp_dim", dimHead = "dim_head" }
    }

    /// The model's constructor arguments: `init_args` (LightningCLI) or `params`.
    public var params: Params { model?.initArgs ?? model?.params ?? Params() }

    /// A config holding only Hugging Face fields (tests, callers without a file).
    public init(huggingFace: HuggingFaceConfig) { model = nil; self.huggingFace = huggingFace }

    /// Reads and decodes `path`; problems are `ModelConfigError`s naming the file and the key.
    public static func read(path: String) throws -> UpstreamConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelConfigError(file: path, "cannot be read")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw ModelConfigError(file: path, "is not UTF-8 text") }
        do {
            return try YAMLDecoder().decode(UpstreamConfig.self, from: text)
        } catch let DecodingError.keyNotFound(key, context) {
            throw ModelConfigError(file: path, "no '\(keyPath(context.codingPath + [key]))' (expected an upstream model config with model.params, or a Hugging Face config.json)")
        } catch let DecodingError.typeMismatch(_, context) {
            throw ModelConfigError(file: path, "'\(keyPath(context.codingPath))' has the wrong type")
        } catch let DecodingError.valueNotFound(_, context) {
            throw ModelConfigError(file: path, "'\(keyPath(context.codingPath))' is empty")
        } catch let DecodingError.dataCorrupted(context) {
            throw ModelConfigError(file: path, context.codingPath.isEmpty ? "is not a YAML mapping" : "'\(keyPath(context.codingPath))' is not valid")
        } catch {
            throw ModelConfigError(file: path, "is not valid YAML: \("\(error)".split(separator: "\n").first ?? "")")
        }
    }

    private static func keyPath(_ path: [CodingKey]) -> String {
        path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
    }
}

/// A problem with the upstream config file (not the checkpoint): errors name the config.
public struct ModelConfigError: Error, CustomStringConvertible, Sendable {
    public let file: String
    public let message: String
    public init(file: String, _ message: String) { self.file = file; self.message = message }
    public var description: String { "\(file): \(message)" }
}
