// A loaded VQ model applied to batches: images -> codes (and latents), codes -> images, images -> reconstructions,
// with the model's outputs mapped to 8-bit pixels by the preset.

import Imaging
import Models
import Tensor

/// The model's outputs for one batch.
public struct ModelOutput {
    /// Decoder output, float32 C order `[n, 3, H, W]`, in the model's own output space (before the pixel mapping).
    public let raw: [Float]
    public let shape: [Int]
    /// Image k of the batch as 8-bit pixels.
    public func image(_ k: Int, preset: Preset) throws -> RGBImage {
        let h = shape[2], w = shape[3], plane = 3 * h * w
        return try preset.pixels(chw: Array(raw[(k * plane)..<((k + 1) * plane)]), width: w, height: h)
    }
}

public struct VQRunner {
    public let vq: LoadedVQ
    public var model: VQModel { vq.model }
    public var preset: Preset { vq.preset }

    public init(_ vq: LoadedVQ) { self.vq = vq }

    private func input(_ b: ImageBatch) throws -> Tensor {
        try Tensor(shape: [b.count, 3, b.height, b.width], values: b.tensor)
    }

    public func encode(_ batch: ImageBatch) throws -> Encoded {
        try model.encode(try input(batch))
    }

    /// Encode then decode the chosen codes.
    public func reconstruct(_ batch: ImageBatch) throws -> (Encoded, ModelOutput) {
        let (e, y) = try model.reconstruct(try input(batch))
        return (e, ModelOutput(raw: y.plain().toArray(), shape: y.shape))
    }

    /// `codes`: `[n, h, w]` row-major.
    public func decode(codes: [Int], shape: [Int]) throws -> ModelOutput {
        let y = try model.decode(codes: codes, shape: shape)
        return ModelOutput(raw: y.plain().toArray(), shape: y.shape)
    }

    /// Refuses to decode code grids of `codeShape` (`[N, h, w]`) in batches of `batchSize` when the model does not
    /// take them or they would not fit in memory.
    public func checkDecode(codeShape: [Int], batchSize: Int) throws {
        guard codeShape.count == 3, codeShape.allSatisfy({ $0 > 0 }) else {
            throw PipelineError("codes must be a non-empty integer array [N, h, w], got shape \(codeShape)")
        }
        let (h, w) = try model.imageSize(codeHeight: codeShape[1], codeWidth: codeShape[2])
        let perImage = model.activationBytes(height: h, width: w)
        let what = "decoding \(codeShape[1])x\(codeShape[2]) code grids into \(w)x\(h) images"
        try Memory.require(perImage, for: what, advice: "codes of this size cannot be decoded on this machine")
        let batch = min(batchSize, codeShape[0])
        try Memory.require(Memory.product(perImage, batch), for: "\(what), \(batch) at a time", advice: "use a smaller --batch-size")
    }
}
