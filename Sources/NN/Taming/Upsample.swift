// Upsample with a convolution: nearest-neighbour ×2 (out[y, x] = in[y/2, x/2]) then a 3×3 conv, padding 1.
import Tensor

public final class Upsample: @unchecked Sendable {
    let conv: Conv2d

    public init(_ w: Weights, channels: Int) throws {
        conv = try Conv2d(w.scope("conv"), inChannels: channels, outChannels: channels, kernelSize: 3,
                          padding: Padding2D(1))
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try conv(try x.upsampleNearest2x())
    }
}
