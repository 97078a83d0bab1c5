// The upstream YAML configs, typed: latent-diffusion / taming `config.yaml` (`model.params.ddconfig`, `embed_dim`,
// `n_embed`) and enhancing-transformers `configs/*.yaml` (`model.params.encoder/decoder`, `quantizer`). Only what
// the weights cannot tell is read; every other key is ignored, as upstream's own trainers ignore unknown ones.

import Foundation
import Yams

public struct UpstreamConfig: Decodable, Sendable {
    public var model: Model

    public struct Model: Decodable, Sendable {
        public var target: String?
        public var params: Params?
    }

    public struct Params: Decodable, Sendable {
        /// latent-diffusion / taming VQModel.
        public var embedDim: Int?
        public var nEmbed: Int?
        public var ddconfig: DDConfig?
        /// enhancing-transformers ViTVQ.
        public var imageSize: Int?
        public var patchSize: Int?
        public var encoder: ViTPart?
        public var decoder: ViTPart?

        enum CodingKeys: String, CodingKey {
            case embedDim = "embed_dim", nEmbed = "n_embed", ddconfig
            case imageSize = "image_size", patchSize = "patch_size", encoder, decoder
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

    public var params: Params { model.params ?? Params() }

    /// Reads and decodes `path`; problems are `ModelConfigError`s naming the file and the key.
    public static func read(path: String) throws -> UpstreamConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelConfigError(file: path, "cannot be read")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw ModelConfigError(file: path, "is not UTF-8 text") }
        do {
            return try YAMLDecoder().decode(UpstreamConfig.self, from: text)
        } catch let DecodingError.keyNotFound(key, context) {
            throw ModelConfigError(file: path, "no '\(keyPath(context.codingPath + [key]))' (expected an upstream model config with model.params)")
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
