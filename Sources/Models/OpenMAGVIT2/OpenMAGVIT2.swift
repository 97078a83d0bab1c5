// Open-MAGVIT2 image tokenizer (TencentARC/SEED-Voken, src/Open_MAGVIT2/models/lfqgan.py `VQModel`; the pretrain
// variant lfqgan_pretrain.py has the same modules):
//   encode: quant = LFQ(encoder(x))     (no quant_conv)      decode: decoder(quant)
// Checkpoints are Lightning 2 `.ckpt` files whose `state_dict` holds encoder.*, decoder.*, loss.* and, with
// `use_ema: True` (every released config), LitEma shadows `model_ema.*`, which the evaluation uses
// (evaluation_image.py runs inside `model.ema_scope()`); so does vqrt (Common/EMAWeights.swift).

import Imaging
import NN
import Tensor
import TorchFormats

/// The `ddconfig` of improved_model.py's Encoder/Decoder (`resolution`, `double_z` do not change the modules).
public struct OpenMAGVIT2Config: Sendable, Equatable {
    public var ch: Int
    public var outCh: Int
    public var inChannels: Int
    public var chMult: [Int]
    public var numResBlocks: Int
    /// Latent channels = LFQ bits (`embed_dim`); the codebook has 2^zChannels codes.
    public var zChannels: Int

    public init(ch: Int = 128, outCh: Int = 3, inChannels: Int = 3, chMult: [Int] = [1, 1, 2, 2, 4],
                numResBlocks: Int = 4, zChannels: Int = 18) {
        self.ch = ch; self.outCh = outCh; self.inChannels = inChannels; self.chMult = chMult
        self.numResBlocks = numResBlocks; self.zChannels = zChannels
    }

    func validate() throws {
        guard ch > 0, ch % 32 == 0, outCh > 0, inChannels > 0, !chMult.isEmpty, chMult.allSatisfy({ $0 > 0 }),
              numResBlocks >= 0, zChannels > 0 else {
            throw WeightError.invalidConfiguration("Open-MAGVIT2 encoder/decoder config \(self)")
        }
    }
}

public final class OpenMAGVIT2: VQModel {
    public let config: OpenMAGVIT2Config
    /// Whether the weights are the checkpoint's EMA shadows (as upstream's evaluation uses them).
    public let usesEMAWeights: Bool
    let encoder: MAGVIT2Encoder
    let decoder: MAGVIT2Decoder
    let quantize: LFQ

    public init(_ w: Weights, config: OpenMAGVIT2Config, usesEMAWeights: Bool = false) throws {
        self.config = config
        self.usesEMAWeights = usesEMAWeights
        encoder = try MAGVIT2Encoder(w.scope("encoder"), config: config)
        decoder = try MAGVIT2Decoder(w.scope("decoder"), config: config)
        quantize = try LFQ(codebookDim: config.zChannels)
    }

    public var family: ModelFamily { .openMAGVIT2 }
    public var codebookSize: Int { quantize.codebookSize }
    public var preset: Preset { .openMAGVIT2() }
    public var summary: [(String, String)] {
        [("ch", "\(config.ch)"), ("ch_mult", "\(config.chMult)"), ("num_res_blocks", "\(config.numResBlocks)"),
         ("z_channels", "\(config.zChannels)"),
         ("quantizer", "LFQ, \(config.zChannels) bits: 2^\(config.zChannels) = \(codebookSize) implicit codes"),
         ("weights", usesEMAWeights ? "EMA (model_ema.*, as upstream's evaluation)" : "raw (no EMA in the checkpoint)")]
    }

    public func encode(_ x: Tensor) throws -> Encoded {
        let h = try encoder(x)
        let (codes, err) = try quantize.codes(h)
        return Encoded(latents: h, codes: codes, codeShape: [h.shape[0], h.shape[2], h.shape[3]], quantizationError: err)
    }

    public func decode(codes: [Int], shape: [Int]) throws -> Tensor {
        try checkCodes(codes, shape: shape)
        return try decoder(try quantize.entries(codes, n: shape[0], h: shape[1], w: shape[2]))
    }
}

// MARK: - Detection and hyper-parameters (for the family registry)

extension OpenMAGVIT2 {
    /// improved_model.py's keys: `decoder.adaptive.{i}.gamma`, `encoder.mid_block.{i}` (taming has `mid.block_1`).
    public static func matches(_ sd: StateDict) -> Bool {
        sd["decoder.adaptive.0.gamma.weight"] != nil && sd["encoder.conv_in.weight"] != nil
    }

    /// Hyper-parameters from the weight shapes.
    public static func config(_ sd: StateDict) throws -> OpenMAGVIT2Config {
        let convIn = try ModelLoader.shape(sd, "encoder.conv_in.weight", rank: 4)
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
        while sd["encoder.down.0.block.\(blocks).conv1.weight"] != nil && blocks < 64 { blocks += 1 }
        let convOut = try ModelLoader.shape(sd, "encoder.conv_out.weight", rank: 4)
        let decOut = try ModelLoader.shape(sd, "decoder.conv_out.weight", rank: 4)
        return OpenMAGVIT2Config(ch: ch, outCh: decOut[0], inChannels: convIn[1], chMult: mult, numResBlocks: blocks,
                                 zChannels: convOut[0])
    }

    /// The YAML (`model.init_args` of SEED-Voken's LightningCLI configs), when it is an Open-MAGVIT2 config, must
    /// agree with the weights.
    public static func check(_ c: OpenMAGVIT2Config, against yaml: [String: Any]?) throws {
        guard let target = ModelLoader.modelTarget(yaml), target.contains("Open_MAGVIT2") || target.contains("lfqgan") else { return }
        let p = ModelLoader.initArgs(yaml)
        if let dd = p["ddconfig"] as? [String: Any] {
            for (key, value) in [("ch", c.ch), ("z_channels", c.zChannels), ("num_res_blocks", c.numResBlocks)] {
                if let y = dd[key] as? Int, y != value { throw ModelError.badConfig("config \(key) \(y) != weights \(value)") }
            }
            if let y = dd["ch_mult"] as? [Int], y != c.chMult { throw ModelError.badConfig("config ch_mult \(y) != weights \(c.chMult)") }
        }
        if let e = p["embed_dim"] as? Int, e != c.zChannels { throw ModelError.badConfig("config embed_dim \(e) != z_channels \(c.zChannels)") }
        if let n = p["n_embed"] as? Int, c.zChannels < 63, n != 1 << c.zChannels {
            throw ModelError.badConfig("config n_embed \(n) != 2^z_channels (\(1 << c.zChannels)): LFQ's bits are the latent channels")
        }
        if p["token_factorization"] as? Bool == true {
            throw ModelError.badConfig("token_factorization: true is the transformer stage's setting; the tokenizer's codes are unfactorised")
        }
    }

    /// The model from its weights (an error names the first missing or mis-shaped key), then the YAML checked.
    public static func build(_ w: Weights, _ sd: StateDict, yaml: [String: Any]?, usesEMAWeights: Bool) throws -> OpenMAGVIT2 {
        let c = try config(sd)
        let model = try OpenMAGVIT2(w, config: c, usesEMAWeights: usesEMAWeights)
        try check(c, against: yaml)
        return model
    }
}
