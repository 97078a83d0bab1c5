// enhancing-transformers `ViTVQ` (vitvqgan.py): patch embedding conv → + pos-emb → Transformer → pre_quant
// Linear → l2-normalised codebook search; decode: l2-normalised code → post_quant → + pos-emb → Transformer →
// to_pixel (ConvTranspose2d, kernel = stride = patch). Input [0, 1], no output activation.

import Imaging
import NN
import Tensor
import TorchFormats

public struct ViTVQConfig: Sendable, Equatable {
    public var imageSize = 256
    public var patchSize = 8
    public var encoder = Part(dim: 512, depth: 8, heads: 8, mlpDim: 2048)
    public var decoder = Part(dim: 512, depth: 8, heads: 8, mlpDim: 2048)
    public var embedDim = 32
    public var nEmbed = 8192
    public struct Part: Sendable, Equatable {
        public var dim, depth, heads, mlpDim: Int
        /// 64 in every released config (the YAMLs leave it at ViTEncoder's default).
        public var dimHead: Int
        public init(dim: Int, depth: Int, heads: Int, mlpDim: Int, dimHead: Int = 64) {
            self.dim = dim; self.depth = depth; self.heads = heads; self.mlpDim = mlpDim; self.dimHead = dimHead
        }
    }
    public init() {}
    public var grid: Int { imageSize / patchSize }
}

public final class ViTVQGAN: VQModel {
    public let config: ViTVQConfig
    let patchEmbed: Conv2d
    let enPos: Tensor
    let encoder: ViTTransformer
    let dePos: Tensor
    let decoder: ViTTransformer
    let toPixel: ConvTranspose2d
    let preQuant: Linear
    let postQuant: Linear
    let codebook: Tensor        // l2-normalised at load (the quantizer normalises it at every call)
    let search: CodebookSearch

    public init(_ w: Weights, config c: ViTVQConfig) throws {
        config = c
        let t = c.grid * c.grid
        let ew = w.scope("encoder"), dw = w.scope("decoder")
        patchEmbed = try Conv2d(ew.scope("to_patch_embedding").scope(0), inChannels: 3, outChannels: c.encoder.dim,
                                kernelSize: c.patchSize, stride: c.patchSize)
        enPos = try Tensor(shape: [1, t, c.encoder.dim], values: try ew.tensor("en_pos_embedding", shape: [1, t, c.encoder.dim]))
        encoder = try ViTTransformer(ew.scope("transformer"), dim: c.encoder.dim, depth: c.encoder.depth, heads: c.encoder.heads,
                                     dimHead: c.encoder.dimHead, mlpDim: c.encoder.mlpDim)
        dePos = try Tensor(shape: [1, t, c.decoder.dim], values: try dw.tensor("de_pos_embedding", shape: [1, t, c.decoder.dim]))
        decoder = try ViTTransformer(dw.scope("transformer"), dim: c.decoder.dim, depth: c.decoder.depth, heads: c.decoder.heads,
                                     dimHead: c.decoder.dimHead, mlpDim: c.decoder.mlpDim)
        toPixel = try ConvTranspose2d(dw.scope("to_pixel").scope(1), inChannels: c.decoder.dim, outChannels: 3,
                                      kernelSize: c.patchSize, stride: c.patchSize)
        preQuant = try Linear(w.scope("pre_quant"), inFeatures: c.encoder.dim, outFeatures: c.embedDim)
        postQuant = try Linear(w.scope("post_quant"), inFeatures: c.embedDim, outFeatures: c.decoder.dim)
        let raw = try Tensor(shape: [c.nEmbed, c.embedDim], values: try w.scope("quantizer").scope("embedding").tensor("weight", shape: [c.nEmbed, c.embedDim]))
        codebook = try raw.l2Normalized()
        search = try CodebookSearch(codes: codebook)
    }

    public var family: ModelFamily { .vitVQGAN }
    public var codebookSize: Int { config.nEmbed }
    public var preset: Preset { .vitVQGAN(resolution: config.imageSize) }

    /// `x + pos` with `pos` [1, T, D] broadcast over the batch.
    private func addPositions(_ x: Tensor, _ pos: Tensor) throws -> Tensor {
        let n = x.shape[0]
        let tiled = try Tensor(shape: x.shape) { buf in
            let per = pos.count
            for i in 0..<n { (buf.baseAddress! + i * per).update(from: pos.plain().pointer, count: per) }
        }
        return try x.adding(tiled)
    }

    public func encode(_ x: Tensor) throws -> Encoded {
        guard x.rank == 4, x.shape[2] == config.imageSize, x.shape[3] == config.imageSize else {
            throw ModelError.badInput("vit-vqgan expects [N, 3, \(config.imageSize), \(config.imageSize)], got \(x.shape)")
        }
        let tokens = try patchEmbed(x).imageToTokens()               // [N, T, dim], row-major tokens
        let h = try encoder(try addPositions(tokens, enPos))
        let z = try preQuant(h)                                       // latents [N, T, embed_dim]
        let n = z.shape[0], t = z.shape[1]
        let flat = try z.reshaped([n * t, config.embedDim]).l2Normalized()
        let (codes, _) = try search.nearest(flat, metric: .squaredEuclidean)
        let err = rowSquaredDistances(flat, try Tensor.gatherRows(codebook, codes))
        return Encoded(latents: z, codes: codes, codeShape: [n, config.grid, config.grid], quantizationError: err)
    }

    public func decode(codes: [Int], shape: [Int]) throws -> Tensor {
        try checkCodes(codes, shape: shape)
        let n = shape[0]
        guard shape[1] == config.grid, shape[2] == config.grid else {
            throw ModelError.badCodes("vit-vqgan codes must be [N, \(config.grid), \(config.grid)], got \(shape)")
        }
        // quantizer.embedding(code) then quantizer.norm: the normalised code vectors.
        let q = try Tensor.gatherRows(codebook, codes).reshaped([n, config.grid * config.grid, config.embedDim])
        let h = try decoder(try addPositions(try postQuant(q), dePos))
        return try toPixel(try h.tokensToImage(height: config.grid, width: config.grid)).plain()
    }

    public func checkInputSize(height: Int, width: Int) throws {
        guard height == config.imageSize, width == config.imageSize else {
            throw ModelError.badInput("vit-vqgan takes \(config.imageSize)x\(config.imageSize) images (its positional embedding), not \(width)x\(height)")
        }
    }
    public func codeGrid(height: Int, width: Int) -> (height: Int, width: Int) { (config.grid, config.grid) }
    public func imageSize(codeHeight: Int, codeWidth: Int) throws -> (height: Int, width: Int) {
        guard codeHeight == config.grid, codeWidth == config.grid else {
            throw ModelError.badCodes("vit-vqgan codes must be [N, \(config.grid), \(config.grid)], got grids of \(codeHeight)x\(codeWidth)")
        }
        return (config.imageSize, config.imageSize)
    }
    public func activationBytes(height: Int, width: Int) -> Int { config.activationBytes }
}
