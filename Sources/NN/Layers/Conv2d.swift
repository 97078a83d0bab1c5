// torch.nn.Conv2d (groups = 1, dilation = 1). Keys: `weight` [out, in, kH, kW], `bias` [out].
import Tensor

public final class Conv2d: @unchecked Sendable {
    public let inChannels: Int
    public let outChannels: Int
    public let kernel: ConvolutionKernel

    /// - Parameters:
    ///   - padding: zero padding per side; `Padding2D(p)` is PyTorch's `padding=p`, and an asymmetric one folds
    ///     an explicit `F.pad` into the convolution.
    public convenience init(_ w: Weights, inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1,
                padding: Padding2D = .zero, bias: Bool = true) throws {
        try self.init(w, inChannels: inChannels, outChannels: outChannels, kernelSize: (kernelSize, kernelSize),
                      stride: (stride, stride), padding: padding, bias: bias)
    }

    public init(_ w: Weights, inChannels: Int, outChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: Padding2D = .zero, bias: Bool = true) throws {
        guard inChannels > 0, outChannels > 0, kernelSize.0 > 0, kernelSize.1 > 0 else {
            throw WeightError.invalidConfiguration("Conv2d \(inChannels)->\(outChannels) kernel \(kernelSize) at '\(w.prefix)'")
        }
        self.inChannels = inChannels
        self.outChannels = outChannels
        let shape = [outChannels, inChannels, kernelSize.0, kernelSize.1]
        let weight = try w.tensor("weight", shape: shape)
        let b = bias ? try w.tensor("bias", shape: [outChannels]) : nil
        kernel = try ConvolutionKernel(kind: .convolution, weight: weight, shape: shape, bias: b, stride: stride,
                                       padding: padding, execution: w.execution)
    }

    /// y = conv(x) (+ residual, added inside the convolution).
    public func callAsFunction(_ x: Tensor, residual: Tensor? = nil) throws -> Tensor {
        try kernel(x, residual: residual)
    }
}
