// Upsample with a convolution: nearest-neighbour ×2 (out[y, x] = in[y/2, x/2]) then a 3×3 conv, padding 1.
//
// Those two steps are one linear map of the low-resolution input: each output pixel of phase (y mod 2, x mod 2)
// sees a 2×2 neighbourhood of input pixels, weighted by sums of the 3×3 taps that land on the same input pixel.
// That is exactly a transposed convolution with stride 2, padding 1 and a 4×4 kernel K, where along each axis
//   K[0] = w[2], K[1] = w[1] + w[2], K[2] = w[0] + w[1], K[3] = w[0]
// (w[0] is the tap at offset −1). It does 4 instead of 9 multiply-adds per output and skips the upsampled
// intermediate. The tap sums are formed in double and rounded once, so results differ
// from the literal form only by float32 rounding (a few ulps). `fused = false` runs the literal form.
import Tensor

public final class Upsample: @unchecked Sendable {
    public let channels: Int
    let conv: Conv2d?
    let transposed: ConvolutionKernel?

    /// `w.execution.fusesUpsampling` decides between the two forms (see above).
    public init(_ w: Weights, channels c: Int) throws {
        channels = c
        if !w.execution.fusesUpsampling {
            conv = try Conv2d(w.scope("conv"), inChannels: c, outChannels: c, kernelSize: 3, padding: Padding2D(1))
            transposed = nil
            return
        }
        let weight = try w.scope("conv").tensor("weight", shape: [c, c, 3, 3])
        let bias = try w.scope("conv").tensor("bias", shape: [c])
        // Taps of the 3×3 kernel feeding each of the 4 positions of K along one axis.
        let taps: [[Int]] = [[2], [1, 2], [0, 1], [0]]
        var k = [Float](repeating: 0, count: c * c * 16)
        for o in 0..<c {
            for i in 0..<c {
                let src = (o * c + i) * 9
                let dst = (i * c + o) * 16        // ConvTranspose2d weights are [in, out, kH, kW]
                for a in 0..<4 {
                    for b in 0..<4 {
                        var s = 0.0
                        for ky in taps[a] { for kx in taps[b] { s += Double(weight[src + ky * 3 + kx]) } }
                        k[dst + a * 4 + b] = Float(s)
                    }
                }
            }
        }
        transposed = try ConvolutionKernel(kind: .transposed, weight: k, shape: [c, c, 4, 4], bias: bias,
                                           stride: (2, 2), padding: Padding2D(1), execution: w.execution)
        conv = nil
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        if let t = transposed { return try t(x) }
        guard let conv else { throw TensorError.invalidArgument("Upsample has no convolution") }
        return try conv(try x.upsampleNearest2x())
    }
}
