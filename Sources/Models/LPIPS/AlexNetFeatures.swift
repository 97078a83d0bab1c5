// torchvision `alexnet().features` (weights `alexnet-owt-7be5be79.pth`, keys `features.{0,3,6,8,10}.{weight,bias}`),
// cut into lpips' five slices (`pretrained_networks.alexnet`): each slice's output is the ReLU after conv 1..5.
//   0 Conv2d(3, 64, 11, stride 4, padding 2), 1 ReLU            -> relu1 (64)
//   2 MaxPool2d(3, 2), 3 Conv2d(64, 192, 5, padding 2), 4 ReLU   -> relu2 (192)
//   5 MaxPool2d(3, 2), 6 Conv2d(192, 384, 3, padding 1), 7 ReLU  -> relu3 (384)
//   8 Conv2d(384, 256, 3, padding 1), 9 ReLU                     -> relu4 (256)
//   10 Conv2d(256, 256, 3, padding 1), 11 ReLU                   -> relu5 (256)
import NN
import Tensor

final class AlexNetFeatures: LPIPSBackbone, @unchecked Sendable {
    static let channels = [64, 192, 384, 256, 256]
    let conv0, conv3, conv6, conv8, conv10: Conv2d

    init(_ features: Weights) throws {
        conv0 = try metricConv2d(features.scope(0), 3, 64, kernelSize: 11, stride: 4, padding: 2)
        conv3 = try metricConv2d(features.scope(3), 64, 192, kernelSize: 5, padding: 2)
        conv6 = try metricConv2d(features.scope(6), 192, 384, kernelSize: 3, padding: 1)
        conv8 = try metricConv2d(features.scope(8), 384, 256, kernelSize: 3, padding: 1)
        conv10 = try metricConv2d(features.scope(10), 256, 256, kernelSize: 3, padding: 1)
    }

    func callAsFunction(_ x: Tensor) throws -> [Tensor] {
        let r1 = try conv0.relu(x)
        let r2 = try conv3.relu(r1.maxPool2d(kernel: 3, stride: 2))
        let r3 = try conv6.relu(r2.maxPool2d(kernel: 3, stride: 2))
        let r4 = try conv8.relu(r3)
        let r5 = try conv10.relu(r4)
        return [r1, r2, r3, r4, r5]
    }
}
