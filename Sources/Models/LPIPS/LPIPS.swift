// LPIPS as richzhang's `lpips` package computes it, version 0.1 (`lpips.LPIPS(net=..., version='0.1')`, eval mode):
//   x = image / 127.5 - 1                      (`lpips.im2tensor` on uint8 HWC: float64 numpy, then float32)
//   x = (x - shift) / scale                     (ScalingLayer: shift [-.030, -.088, -.188], scale [.458, .448, .450])
//   per backbone slice k: f = f / (sqrt(Σ_c f²) + 1e-10)   (`normalize_tensor`, over channels, per pixel)
//                         d_k = mean_{h,w} lin_k((f0 - f1)²)  (1x1 conv C_k -> 1 without bias; dropout is off)
//   LPIPS = Σ_k d_k
// Backbones: torchvision's AlexNet (default), VGG16 and SqueezeNet 1.1 feature stacks (`AlexNetFeatures`, ...), the
// lin layers from the package's `weights/v0.1/<net>.pth` (`lin<k>.model.1.weight`, [1, C_k, 1, 1]).
// The two images of each pair go through the backbone as one batch.
import Foundation
import Imaging
import NN
import Tensor

/// A backbone's feature slices for a batch [N, 3, H, W].
protocol LPIPSBackbone: AnyObject, Sendable {
    func callAsFunction(_ x: Tensor) throws -> [Tensor]
}

public final class LPIPS: @unchecked Sendable {
    public enum Net: String, CaseIterable, Sendable {
        case alex, vgg, squeeze

        /// Channels of each feature slice (`self.chns` in lpips).
        public var channels: [Int] {
            switch self {
            case .alex: return AlexNetFeatures.channels
            case .vgg: return VGG16Features.channels
            case .squeeze: return SqueezeNetFeatures.channels
            }
        }
    }

    public static let shift: [Float] = [-0.030, -0.088, -0.188]
    public static let scale: [Float] = [0.458, 0.448, 0.450]
    public static let normalizeEps: Float = 1e-10

    public let net: Net
    let backbone: LPIPSBackbone
    let lins: [NetLinLayer]

    /// Builds the network: `features` is the torchvision state dict's `features` scope, `linear` the root of the
    /// lpips weights (`lin0.model.1.weight`, ...).
    public init(net: Net, features: Weights, linear: Weights) throws {
        self.net = net
        switch net {
        case .alex: backbone = try AlexNetFeatures(features)
        case .vgg: backbone = try VGG16Features(features)
        case .squeeze: backbone = try SqueezeNetFeatures(features)
        }
        lins = try net.channels.enumerated().map { k, c in try NetLinLayer(linear.scope("lin\(k)"), channels: c) }
    }

    /// The network input for 8-bit images, lpips' `im2tensor` then its ScalingLayer: [N, 3, H, W] float32.
    public static func input(_ images: [RGBImage]) throws -> Tensor {
        guard let first = images.first else { throw TensorError.shapeMismatch("LPIPS input: no images") }
        let w = first.width, h = first.height, plane = w * h
        guard images.allSatisfy({ $0.width == w && $0.height == h }) else {
            throw TensorError.shapeMismatch("LPIPS input: images of different sizes in one batch")
        }
        var lut = [Float](repeating: 0, count: 3 * 256)
        for c in 0..<3 {
            for v in 0..<256 { lut[c * 256 + v] = (Float(Double(v) / 127.5 - 1) - shift[c]) / scale[c] }
        }
        return try Tensor(shape: [images.count, 3, h, w]) { out in
            for (n, image) in images.enumerated() {
                image.pixels.withUnsafeBufferPointer { p in
                    for c in 0..<3 {
                        let o = out.baseAddress! + (n * 3 + c) * plane
                        for i in 0..<plane { o[i] = lut[c * 256 + Int(p[i * 3 + c])] }
                    }
                }
            }
        }
    }

    /// LPIPS of one pair of 8-bit images of the same size.
    public func callAsFunction(_ a: RGBImage, _ b: RGBImage) throws -> Double {
        try distances(a: [a], b: [b])[0]
    }

    /// LPIPS of each pair (a[i], b[i]); all images of one call must share their size.
    public func distances(a: [RGBImage], b: [RGBImage]) throws -> [Double] {
        guard a.count == b.count, !a.isEmpty else {
            throw TensorError.shapeMismatch("LPIPS needs as many images on each side, got \(a.count) and \(b.count)")
        }
        for (x, y) in zip(a, b) where x.width != y.width || x.height != y.height {
            throw TensorError.shapeMismatch("LPIPS of a \(x.width)x\(x.height) image against a \(y.width)x\(y.height) one")
        }
        return try distances(scaled: LPIPS.input(a + b), pairs: a.count)
    }

    /// LPIPS of each pair of a batch already through `input(_:)`: [2N, 3, H, W], the first N images against the last N.
    public func distances(scaled x: Tensor, pairs n: Int) throws -> [Double] {
        guard x.rank == 4, x.shape[0] == 2 * n, n > 0, x.shape[1] == 3 else {
            throw TensorError.shapeMismatch("LPIPS expects [2N, 3, H, W] with N = \(n), got \(x.shape)")
        }
        let features = try backbone(x)
        var total = [Double](repeating: 0, count: n)
        for (k, f) in features.enumerated() {
            let d = try lins[k].spatialAverage(f, pairs: n)
            for i in 0..<n { total[i] += d[i] }
        }
        return total
    }
}

/// lpips' `NetLinLayer` in eval mode (`Dropout` is the identity, then `Conv2d(C, 1, 1, bias=False)`, key
/// `model.1.weight` [1, C, 1, 1]) applied to the squared difference of the unit-normalised features, followed by
/// `spatial_average`; fused into one pass over the backbone's output in whatever layout it holds (a 1x1 convolution
/// to one channel is a weighted sum over channels per pixel).
struct NetLinLayer: @unchecked Sendable {
    let weight: [Float]

    init(_ w: Weights, channels: Int) throws {
        weight = try w.scope("model.1").tensor("weight", shape: [1, channels, 1, 1])
    }

    /// mean_{h,w} Σ_c w_c (f0_c / (‖f0‖ + eps) - f1_c / (‖f1‖ + eps))², ‖·‖ over channels per pixel, for f0 = images
    /// 0..<n and f1 = images n..<2n of the batch `f` [2n, C, H, W]. Per element in float32 as lpips; sums in float64.
    func spatialAverage(_ f: Tensor, pairs n: Int) throws -> [Double] {
        let c = f.shape[1], hw = f.shape[2] * f.shape[3]
        guard f.rank == 4, f.shape[0] == 2 * n, c == weight.count else {
            throw TensorError.shapeMismatch("LPIPS lin layer of \(weight.count) channels given \(f.shape)")
        }
        let x = f.layout == .nChw16c || f.layout == .plain ? f : f.plain()
        let blocked = x.layout == .nChw16c
        let blocks = (c + 15) / 16
        let imageStride = blocked ? blocks * hw * 16 : c * hw
        // Offset of channel `ch` at pixel `p` within one image.
        func offset(_ ch: Int, _ p: Int) -> Int { blocked ? ((ch >> 4) * hw + p) * 16 + (ch & 15) : ch * hw + p }
        let src = x.pointer
        let eps = LPIPS.normalizeEps
        var out = [Double](repeating: 0, count: n)
        for i in 0..<n {
            let f0 = src + i * imageStride, f1 = src + (i + n) * imageStride
            var sum = 0.0
            for p in 0..<hw {
                var s0 = 0.0, s1 = 0.0
                for ch in 0..<c {
                    let a = Double(f0[offset(ch, p)]), b = Double(f1[offset(ch, p)])
                    s0 += a * a; s1 += b * b
                }
                let n0 = Float(s0.squareRoot()) + eps, n1 = Float(s1.squareRoot()) + eps
                var pixel = 0.0
                for ch in 0..<c {
                    let d = f0[offset(ch, p)] / n0 - f1[offset(ch, p)] / n1
                    pixel += Double(weight[ch]) * Double(d * d)
                }
                sum += pixel
            }
            out[i] = sum / Double(hw)
        }
        return out
    }
}
