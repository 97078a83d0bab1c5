// Downsample with a convolution: F.pad(x, (0, 1, 0, 1)) then a 3×3 stride-2 conv with no padding. The
// asymmetric zero padding (right and bottom only) is given to the convolution itself instead of a separate pass.
import Tensor

public final class Downsample: @unchecked Sendable {
    let conv: Conv2d

    public init(_ w: Weights, channels: Int) throws {
        conv = try Conv2d(w.scope("conv"), inChannels: channels, outChannels: channels, kernelSize: 3, stride: 2,
                          padding: Padding2D(top: 0, left: 0, bottom: 1, right: 1))
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try conv(x) }
}
