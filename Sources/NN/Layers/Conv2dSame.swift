// TensorFlow "SAME" padding on top of torch.nn.Conv2d, as the MaskGIT-VQGAN port writes it (1d-tokenizer
// `modeling/modules/maskgit_vqgan.py` `Conv2dSame`, from open-muse):
//     pad = max((ceil(i / s) - 1) * s + (k - 1) * d + 1 - i, 0)
//     F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])    (the extra pixel right/bottom)
// then an unpadded convolution. With stride 1 (every use in that model) the padding is k - 1 whatever the input
// size, so it is fixed at build time and given to the convolution itself. Keys: `weight` [out, in, kH, kW],
// `bias` [out] unless bias=False.
import Tensor

public final class Conv2dSame: @unchecked Sendable {
    public let inChannels: Int
    public let outChannels: Int
    let conv: Conv2d

    public init(_ w: Weights, inChannels: Int, outChannels: Int, kernelSize: Int, bias: Bool = true) throws {
        self.inChannels = inChannels
        self.outChannels = outChannels
        // At stride 1 every input size gives k - 1.
        let pad = Conv2dSame.samePadding(input: 1, kernel: kernelSize, stride: 1, dilation: 1)
        conv = try Conv2d(w, inChannels: inChannels, outChannels: outChannels, kernelSize: kernelSize,
                          padding: Padding2D(top: pad / 2, left: pad / 2, bottom: pad - pad / 2, right: pad - pad / 2),
                          bias: bias)
    }

    /// `calc_same_pad(i, k, s, d)`: the total padding along one axis.
    public static func samePadding(input i: Int, kernel k: Int, stride s: Int, dilation d: Int) -> Int {
        max(((i + s - 1) / s - 1) * s + (k - 1) * d + 1 - i, 0)
    }

    /// y = conv(pad(x)) (+ residual, added inside the convolution).
    public func callAsFunction(_ x: Tensor, residual: Tensor? = nil) throws -> Tensor {
        try conv(x, residual: residual)
    }
}
