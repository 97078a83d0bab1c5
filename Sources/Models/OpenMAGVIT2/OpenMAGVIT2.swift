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

public final class OpenMAGVIT2: DownsamplingVQModel {
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

    public func encode(_ x: Tensor) throws -> Encoded {
        let h = try encoder(x)
        let (codes, err) = try quantize.codes(h)
        return Encoded(latents: h, codes: codes, codeShape: [h.shape[0], h.shape[2], h.shape[3]], quantizationError: err)
    }

    public func decode(codes: [Int], shape: [Int]) throws -> Tensor {
        try checkCodes(codes, shape: shape)
        return try decoder(try quantize.entries(codes, n: shape[0], h: shape[1], w: shape[2]))
    }

    public var downsampling: Int { config.downsampling }

    // The decoder's AdaptiveGroupNorm takes the unbiased variance over the latent positions: one position would
    // divide by zero (NaN pixels upstream), so a single-position code grid is refused before compute.
    public func checkInputSize(height: Int, width: Int) throws {
        let f = downsampling
        guard height >= f, width >= f, height % f == 0, width % f == 0, (height / f) * (width / f) >= 2 else {
            throw ModelError.badInput("open-magvit2 takes images whose sides are multiples of \(f) (its downsampling factor) and at least 2 latent positions, not \(width)x\(height)")
        }
    }
    public func imageSize(codeHeight: Int, codeWidth: Int) throws -> (height: Int, width: Int) {
        guard codeHeight > 0, codeWidth > 0, codeHeight > 1 || codeWidth > 1 else {
            throw ModelError.badCodes("open-magvit2 decodes code grids of at least 2 positions (its adaptive GroupNorm's unbiased variance), not \(codeHeight)x\(codeWidth)")
        }
        let (h, hOverflow) = codeHeight.multipliedReportingOverflow(by: downsampling)
        let (w, wOverflow) = codeWidth.multipliedReportingOverflow(by: downsampling)
        guard !hOverflow, !wOverflow else { throw ModelError.badCodes("a \(codeHeight)x\(codeWidth) code grid is too large") }
        return (h, w)
    }
    public func activationBytes(height: Int, width: Int) -> Int { config.activationBytes(height: height, width: width) }
}
