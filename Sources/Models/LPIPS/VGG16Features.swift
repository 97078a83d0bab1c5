// torchvision `vgg16().features` (weights `vgg16-397923af.pth`, keys `features.{0,2,5,...,28}.{weight,bias}`), cut
// into lpips' five slices (`pretrained_networks.vgg16`): the ReLU outputs relu1_2, relu2_2, relu3_3, relu4_3,
// relu5_3. Every convolution is 3x3 with padding 1; each slice after the first starts with MaxPool2d(2, 2).
import NN
import Tensor

final class VGG16Features: LPIPSBackbone, @unchecked Sendable {
    static let channels = [64, 128, 256, 512, 512]
    /// (feature index, in, out) of the 13 convolutions, grouped by slice.
    static let slices: [[(index: Int, inChannels: Int, outChannels: Int)]] = [
        [(0, 3, 64), (2, 64, 64)],
        [(5, 64, 128), (7, 128, 128)],
        [(10, 128, 256), (12, 256, 256), (14, 256, 256)],
        [(17, 256, 512), (19, 512, 512), (21, 512, 512)],
        [(24, 512, 512), (26, 512, 512), (28, 512, 512)],
    ]
    let convs: [[Conv2d]]

    init(_ features: Weights) throws {
        convs = try VGG16Features.slices.map { slice in
            try slice.map { try metricConv2d(features.scope($0.index), $0.inChannels, $0.outChannels, kernelSize: 3, padding: 1) }
        }
    }

    func callAsFunction(_ x: Tensor) throws -> [Tensor] {
        var outputs: [Tensor] = []
        var h = x
        for (s, slice) in convs.enumerated() {
            if s > 0 { h = try h.maxPool2d(kernel: 2, stride: 2) }
            for conv in slice { h = try conv.relu(h) }
            outputs.append(h)
        }
        return outputs
    }
}
