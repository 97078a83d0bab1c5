// The convolutions of the LPIPS backbones: NN's Conv2d, pinned to the arithmetic PyTorch runs (direct algorithm,
// float32), like the FID Inception's: LPIPS is a metric compared with the `lpips` package to 1e-5, and must not
// change with the VQ model's `--precision` or convolution algorithm.
import NN
import Tensor

func metricConv2d(_ w: Weights, _ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1,
                  padding: Int = 0) throws -> Conv2d {
    try Conv2d(w.with(execution: .reference), inChannels: inChannels, outChannels: outChannels, kernelSize: kernelSize,
               stride: stride, padding: Padding2D(padding))
}

extension Conv2d {
    /// conv -> ReLU (torchvision's `nn.ReLU(inplace=True)` after each feature convolution).
    func relu(_ x: Tensor) throws -> Tensor {
        let y = try self(x)
        y.reluInPlace()
        return y
    }
}
