// torchvision `BasicConv2d`: Conv2d(bias=False) -> BatchNorm2d(eps=0.001, eval mode) -> ReLU.
// Keys: `conv.weight` [O, I, kH, kW], `bn.weight`, `bn.bias`, `bn.running_mean`, `bn.running_var` [O].
//
// The batch norm is folded into the convolution once at load time (computed in float64, rounded once):
//   s = gamma / sqrt(running_var + 0.001);  W' = W * s;  b' = beta - running_mean * s
// PyTorch applies it as a separate pass (y = x * alpha + beta in float32); the fold changes results by float
// rounding only (~1e-7 relative, spec/metrics.md §3.1).
import NN
import Tensor

public final class BasicConv2d: @unchecked Sendable {
    public static let batchNormEps = 0.001

    public let inChannels: Int
    public let outChannels: Int
    let conv: ConvolutionKernel

    public init(_ w: Weights, _ inChannels: Int, _ outChannels: Int, kernelSize: (Int, Int),
                stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0)) throws {
        self.inChannels = inChannels
        self.outChannels = outChannels
        let shape = [outChannels, inChannels, kernelSize.0, kernelSize.1]
        var weight = try w.scope("conv").tensor("weight", shape: shape)
        let bn = w.scope("bn")
        let gamma = try bn.tensor("weight", shape: [outChannels])
        let beta = try bn.tensor("bias", shape: [outChannels])
        let mean = try bn.tensor("running_mean", shape: [outChannels])
        let variance = try bn.tensor("running_var", shape: [outChannels])
        var bias = [Float](repeating: 0, count: outChannels)
        let perOut = weight.count / outChannels
        for o in 0..<outChannels {
            let v = Double(variance[o]) + BasicConv2d.batchNormEps
            guard v > 0, v.isFinite else {
                throw WeightError.unreadable(key: bn.key("running_var"),
                                             reason: "running_var[\(o)] = \(variance[o]) makes the batch norm undefined")
            }
            let s = Double(gamma[o]) / v.squareRoot()
            for i in (o * perOut)..<((o + 1) * perOut) { weight[i] = Float(Double(weight[i]) * s) }
            bias[o] = Float(Double(beta[o]) - Double(mean[o]) * s)
        }
        conv = try ConvolutionKernel(kind: .convolution, weight: weight, shape: shape, bias: bias, stride: stride,
                                     padding: Padding2D(padding.0, padding.1), execution: w.execution)
    }

    /// Square kernel / stride / padding shorthand (PyTorch's `kernel_size=3, stride=2, padding=1`).
    public convenience init(_ w: Weights, _ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1,
                            padding: Int = 0) throws {
        try self.init(w, inChannels, outChannels, kernelSize: (kernelSize, kernelSize), stride: (stride, stride),
                      padding: (padding, padding))
    }

    /// conv -> bn -> relu (in place on the convolution's fresh output, as torchvision's `F.relu(x, inplace=True)`).
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        let y = try conv(x)
        y.reluInPlace()
        return y
    }

    /// conv -> bn, without the ReLU: for callers that apply it inside a later pass (concatenation, pooling).
    public func preActivation(_ x: Tensor) throws -> Tensor { try conv(x) }
}
