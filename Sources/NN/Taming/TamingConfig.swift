// The `ddconfig` of taming-transformers / latent-diffusion Encoder and Decoder
// (ldm/modules/diffusionmodules/model.py).
import Tensor

/// Which attention `make_attn` builds.
public enum TamingAttention: String, Sendable, Equatable {
    /// `AttnBlock`: single-head spatial self-attention.
    case vanilla
    /// `nn.Identity`: no attention and no keys.
    case none
}

public struct TamingConfig: Sendable, Equatable {
    public var ch: Int
    public var outCh: Int
    public var chMult: [Int]
    public var numResBlocks: Int
    /// Resolutions (of the config's `resolution`, not of the actual input) at which attention follows each block.
    public var attnResolutions: [Int]
    public var inChannels: Int
    public var resolution: Int
    public var zChannels: Int
    public var doubleZ: Bool
    public var attnType: TamingAttention
    /// Decoder only: tanh on the output (no released VQ config sets it).
    public var tanhOut: Bool

    public init(ch: Int = 128, outCh: Int = 3, chMult: [Int] = [1, 2, 4], numResBlocks: Int = 2,
                attnResolutions: [Int] = [], inChannels: Int = 3, resolution: Int = 256, zChannels: Int,
                doubleZ: Bool = false, attnType: TamingAttention = .vanilla, tanhOut: Bool = false) {
        self.ch = ch; self.outCh = outCh; self.chMult = chMult; self.numResBlocks = numResBlocks
        self.attnResolutions = attnResolutions; self.inChannels = inChannels; self.resolution = resolution
        self.zChannels = zChannels; self.doubleZ = doubleZ; self.attnType = attnType; self.tanhOut = tanhOut
    }

    func validate() throws {
        guard ch > 0, outCh > 0, !chMult.isEmpty, chMult.allSatisfy({ $0 > 0 }), numResBlocks >= 0,
              inChannels > 0, resolution > 0, zChannels > 0 else {
            throw WeightError.invalidConfiguration("taming encoder/decoder config \(self)")
        }
    }
}

/// `nonlinearity(x) = x*torch.sigmoid(x)` (swish).
@inline(__always)
func nonlinearity(_ x: Tensor) -> Tensor { x.silu() }

/// `Normalize(in_channels)`: GroupNorm(32 groups, eps 1e-6, affine).
func Normalize(_ w: Weights, _ channels: Int) throws -> GroupNorm {
    try GroupNorm(w, groups: 32, channels: channels, eps: 1e-6)
}

