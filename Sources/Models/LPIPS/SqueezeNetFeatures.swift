// torchvision `squeezenet1_1().features` (weights `squeezenet1_1-b8a52dc0.pth`), cut into lpips' seven slices
// (`pretrained_networks.squeezenet`):
//   0 Conv2d(3, 64, 3, stride 2), 1 ReLU                                    -> slice 1 (64)
//   2 MaxPool2d(3, 2, ceil_mode), 3 Fire(64, 16, 64, 64), 4 Fire(128, 16, 64, 64)     -> slice 2 (128)
//   5 MaxPool2d(3, 2, ceil_mode), 6 Fire(128, 32, 128, 128), 7 Fire(256, 32, 128, 128) -> slice 3 (256)
//   8 MaxPool2d(3, 2, ceil_mode), 9 Fire(256, 48, 192, 192)                 -> slice 4 (384)
//   10 Fire(384, 48, 192, 192) -> slice 5 (384); 11 Fire(384, 64, 256, 256) -> slice 6 (512);
//   12 Fire(512, 64, 256, 256) -> slice 7 (512)
import NN
import Tensor

/// torchvision's `Fire`: squeeze 1x1 + ReLU, then concat(ReLU(expand 1x1), ReLU(expand 3x3, padding 1)).
/// Keys: `squeeze`, `expand1x1`, `expand3x3` (`.weight`, `.bias`).
final class Fire: @unchecked Sendable {
    let squeeze, expand1x1, expand3x3: Conv2d

    init(_ w: Weights, _ inChannels: Int, _ squeezeChannels: Int, _ expand1x1Channels: Int, _ expand3x3Channels: Int) throws {
        squeeze = try metricConv2d(w.scope("squeeze"), inChannels, squeezeChannels, kernelSize: 1)
        expand1x1 = try metricConv2d(w.scope("expand1x1"), squeezeChannels, expand1x1Channels, kernelSize: 1)
        expand3x3 = try metricConv2d(w.scope("expand3x3"), squeezeChannels, expand3x3Channels, kernelSize: 3, padding: 1)
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        let s = try squeeze.relu(x)
        return try Tensor.concatChannels([expand1x1(s), expand3x3(s)], relu: true)
    }
}

final class SqueezeNetFeatures: LPIPSBackbone, @unchecked Sendable {
    static let channels = [64, 128, 256, 384, 384, 512, 512]
    let conv0: Conv2d
    let fire3, fire4, fire6, fire7, fire9, fire10, fire11, fire12: Fire

    init(_ features: Weights) throws {
        conv0 = try metricConv2d(features.scope(0), 3, 64, kernelSize: 3, stride: 2)
        fire3 = try Fire(features.scope(3), 64, 16, 64, 64)
        fire4 = try Fire(features.scope(4), 128, 16, 64, 64)
        fire6 = try Fire(features.scope(6), 128, 32, 128, 128)
        fire7 = try Fire(features.scope(7), 256, 32, 128, 128)
        fire9 = try Fire(features.scope(9), 256, 48, 192, 192)
        fire10 = try Fire(features.scope(10), 384, 48, 192, 192)
        fire11 = try Fire(features.scope(11), 384, 64, 256, 256)
        fire12 = try Fire(features.scope(12), 512, 64, 256, 256)
    }

    func callAsFunction(_ x: Tensor) throws -> [Tensor] {
        let s1 = try conv0.relu(x)
        let s2 = try fire4(fire3(s1.maxPool2d(kernel: 3, stride: 2, ceilMode: true)))
        let s3 = try fire7(fire6(s2.maxPool2d(kernel: 3, stride: 2, ceilMode: true)))
        let s4 = try fire9(s3.maxPool2d(kernel: 3, stride: 2, ceilMode: true))
        let s5 = try fire10(s4)
        let s6 = try fire11(s5)
        let s7 = try fire12(s6)
        return [s1, s2, s3, s4, s5, s6, s7]
    }
}
