// pytorch-fid's Inception-v3 in its FID form (`fid_inception_v3()`): torchvision `Inception3(num_classes=1008,
// aux_logits=False)` with the FID-patched Mixed blocks and the TF-2015 weights `pt_inception-2015-12-05-6726825d.pth`,
// evaluated as `InceptionV3([3])` (pool3, for FID) and pytorch-image-generation-metrics' `InceptionV3([4])`
// (softmax of `pool3 · fc.weightᵀ` without the fc bias, for IS). spec/metrics.md §3.
//
// The input is the already preprocessed batch: [N, 3, 299, 299] float32 in [-1, 1] (bilinear resize to 299 and
// `2x - 1` happen in Imaging's "inception" preset, exactly as `InceptionV3.forward` does them).
// Dropout is the identity in eval mode and `transform_input` is not used by pytorch-fid.
import NN
import Tensor

public final class InceptionV3: @unchecked Sendable {
    /// pool3 feature size (FID).
    public static let featureDimension = 2048
    /// fc outputs (IS): 1008 classes, as in the TF graph.
    public static let classCount = 1008
    /// The input resolution pytorch-fid resizes to.
    public static let inputSize = 299

    let Conv2d_1a_3x3: BasicConv2d
    let Conv2d_2a_3x3: BasicConv2d
    let Conv2d_2b_3x3: BasicConv2d
    let Conv2d_3b_1x1: BasicConv2d
    let Conv2d_4a_3x3: BasicConv2d
    let Mixed_5b: FIDInceptionA
    let Mixed_5c: FIDInceptionA
    let Mixed_5d: FIDInceptionA
    let Mixed_6a: InceptionB
    let Mixed_6b: FIDInceptionC
    let Mixed_6c: FIDInceptionC
    let Mixed_6d: FIDInceptionC
    let Mixed_6e: FIDInceptionC
    let Mixed_7a: InceptionD
    let Mixed_7b: FIDInceptionE
    let Mixed_7c: FIDInceptionE
    /// `fc` without its bias (PIGM sets `fc.bias = None`; OpenAI's IS takes the MatMul input of the TF graph).
    let fc: LinearKernel

    /// Builds the network from weights under `w` (state-dict keys as in spec/metrics.md Appendix A).
    public init(_ weights: Weights) throws {
        // The metric network always runs PyTorch's own arithmetic (direct convolutions, float32), whatever the VQ
        // model it measures runs with: its features are compared to 1e-4 with pytorch-fid's, and the metrics must
        // not depend on `--conv-algorithm` or `--precision`.
        let w = weights.with(execution: .reference)
        Conv2d_1a_3x3 = try BasicConv2d(w.scope("Conv2d_1a_3x3"), 3, 32, kernelSize: 3, stride: 2)
        Conv2d_2a_3x3 = try BasicConv2d(w.scope("Conv2d_2a_3x3"), 32, 32, kernelSize: 3)
        Conv2d_2b_3x3 = try BasicConv2d(w.scope("Conv2d_2b_3x3"), 32, 64, kernelSize: 3, padding: 1)
        Conv2d_3b_1x1 = try BasicConv2d(w.scope("Conv2d_3b_1x1"), 64, 80, kernelSize: 1)
        Conv2d_4a_3x3 = try BasicConv2d(w.scope("Conv2d_4a_3x3"), 80, 192, kernelSize: 3)
        Mixed_5b = try FIDInceptionA(w.scope("Mixed_5b"), inChannels: 192, poolFeatures: 32)
        Mixed_5c = try FIDInceptionA(w.scope("Mixed_5c"), inChannels: 256, poolFeatures: 64)
        Mixed_5d = try FIDInceptionA(w.scope("Mixed_5d"), inChannels: 288, poolFeatures: 64)
        Mixed_6a = try InceptionB(w.scope("Mixed_6a"), inChannels: 288)
        Mixed_6b = try FIDInceptionC(w.scope("Mixed_6b"), inChannels: 768, channels7x7: 128)
        Mixed_6c = try FIDInceptionC(w.scope("Mixed_6c"), inChannels: 768, channels7x7: 160)
        Mixed_6d = try FIDInceptionC(w.scope("Mixed_6d"), inChannels: 768, channels7x7: 160)
        Mixed_6e = try FIDInceptionC(w.scope("Mixed_6e"), inChannels: 768, channels7x7: 192)
        Mixed_7a = try InceptionD(w.scope("Mixed_7a"), inChannels: 768)
        Mixed_7b = try FIDInceptionE(w.scope("Mixed_7b"), inChannels: 1280, pool: .average)
        Mixed_7c = try FIDInceptionE(w.scope("Mixed_7c"), inChannels: 2048, pool: .max)
        let f = w.scope("fc")
        let weight = try f.tensor("weight", shape: [InceptionV3.classCount, InceptionV3.featureDimension])
        // Read (so a wrong shape is reported and the key counts as used) but not applied.
        _ = try f.tensor("bias", shape: [InceptionV3.classCount])
        fc = try LinearKernel(weight: weight, outFeatures: InceptionV3.classCount,
                              inFeatures: InceptionV3.featureDimension, bias: nil, execution: w.execution)
    }

    /// pool3 features `[N, 2048]` and, if asked, the unbiased fc logits `[N, 1008]` (plain tensors) of a
    /// preprocessed batch `[N, 3, H, W]` (H = W = 299 in the reference pipeline).
    public func callAsFunction(_ x: Tensor, logits wantLogits: Bool = true) throws -> (pool3: Tensor, logits: Tensor?) {
        guard x.rank == 4, x.shape[1] == 3, x.shape[0] > 0 else {
            throw TensorError.shapeMismatch("Inception expects [N, 3, H, W] with N > 0, got \(x.shape)")
        }
        // Block 0: N x 3 x 299 x 299 -> N x 64 x 73 x 73. The ReLU after Conv2d_2b is applied inside the max pool.
        var y = try Conv2d_1a_3x3(x)
        y = try Conv2d_2a_3x3(y)
        y = try Conv2d_2b_3x3.preActivation(y)
        y = try y.maxPool2d(kernel: 3, stride: 2, reluInput: true)
        // Block 1: -> N x 192 x 35 x 35.
        y = try Conv2d_3b_1x1(y)
        y = try Conv2d_4a_3x3.preActivation(y)
        y = try y.maxPool2d(kernel: 3, stride: 2, reluInput: true)
        // Block 2: -> N x 768 x 17 x 17.
        y = try Mixed_5b(y)
        y = try Mixed_5c(y)
        y = try Mixed_5d(y)
        y = try Mixed_6a(y)
        y = try Mixed_6b(y)
        y = try Mixed_6c(y)
        y = try Mixed_6d(y)
        y = try Mixed_6e(y)
        // Block 3: -> N x 2048 x 8 x 8 -> adaptive average pool -> N x 2048.
        y = try Mixed_7a(y)
        y = try Mixed_7b(y)
        // Mixed_7c's concatenation and the global average pool commute: pool each (rectified) branch, then
        // concatenate the pooled vectors.
        let pooled = try Mixed_7c.branches(y).map { try $0.globalAveragePool(reluInput: true) }
        let pool3 = try Tensor.concatChannels(pooled.map { try $0.reshaped($0.shape + [1, 1]) })
            .reshaped([x.shape[0], InceptionV3.featureDimension])
        guard wantLogits else { return (pool3, nil) }
        return (pool3, try fc(pool3))
    }
}
