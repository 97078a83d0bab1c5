// torch.nn.ConvTranspose2d (groups = 1, dilation = 1). Keys: `weight` [in, out, kH, kW], `bias` [out].
import Tensor

public final class ConvTranspose2d: @unchecked Sendable {
    public let inChannels: Int
    public let outChannels: Int
    public let kernel: ConvolutionKernel

    public init(_ w: Weights, inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                outputPadding: Int = 0, bias: Bool = true) throws {
        guard inChannels > 0, outChannels > 0, kernelSize > 0, stride > 0, padding >= 0,
              outputPadding >= 0, outputPadding < stride else {
            throw WeightError.invalidConfiguration(
                "ConvTranspose2d \(inChannels)->\(outChannels) k\(kernelSize) s\(stride) p\(padding) op\(outputPadding) at '\(w.prefix)'")
        }
        self.inChannels = inChannels
        self.outChannels = outChannels
        let shape = [inChannels, outChannels, kernelSize, kernelSize]
        let weight = try w.tensor("weight", shape: shape)
        let b = bias ? try w.tensor("bias", shape: [outChannels]) : nil
        kernel = try ConvolutionKernel(kind: .transposed, weight: weight, shape: shape, bias: b, stride: (stride, stride),
                                       padding: Padding2D(padding), outputPadding: (outputPadding, outputPadding),
                                       execution: w.execution)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try kernel(x) }
}
