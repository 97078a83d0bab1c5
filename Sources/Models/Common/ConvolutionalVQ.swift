// The skeleton of taming's `VQModel`, which the convolutional tokenizers after it kept (latent-diffusion's
// VQModel, IBQ, taming's GumbelVQ, LlamaGen's VQModel):
//   encode: h = quant_conv(encoder(x)) (the latents);  codes = quantize(h)
//   decode: decoder(post_quant_conv(quantize.get_codebook_entry(codes)))
// Each family's class builds its encoder, decoder and quantizer under the upstream module names and keeps them
// here; what differs between the families is only those three modules.

import NN
import Tensor

/// A quantizer of `[N, C, h, w]` latents.
public protocol SpatialQuantizer: AnyObject {
    /// Number of codes.
    var codebookSize: Int { get }
    /// Codes in (n, h, w) order and each position's squared distance to its code, in the quantizer's space.
    func codes(_ z: Tensor) throws -> (codes: [Int], error: [Float])
    /// `get_codebook_entry`: the codes' vectors as `[N, C, h, w]`.
    func entries(_ codes: [Int], n: Int, h: Int, w: Int) throws -> Tensor
}

struct ConvolutionalVQ<Quantizer: SpatialQuantizer> {
    let encoder: (Tensor) throws -> Tensor
    let decoder: (Tensor) throws -> Tensor
    let quantize: Quantizer
    let quantConv: Conv2d
    let postQuantConv: Conv2d

    /// `quant_conv` maps the encoder's `zChannels` to the quantizer's `embedDim`, `post_quant_conv` back.
    init(_ w: Weights, zChannels: Int, embedDim: Int, encoder: @escaping (Tensor) throws -> Tensor,
         decoder: @escaping (Tensor) throws -> Tensor, quantize: Quantizer) throws {
        self.encoder = encoder
        self.decoder = decoder
        self.quantize = quantize
        quantConv = try Conv2d(w.scope("quant_conv"), inChannels: zChannels, outChannels: embedDim, kernelSize: 1)
        postQuantConv = try Conv2d(w.scope("post_quant_conv"), inChannels: embedDim, outChannels: zChannels, kernelSize: 1)
    }

    func encode(_ x: Tensor) throws -> Encoded {
        let h = try quantConv(try encoder(x)).plain()
        let (codes, err) = try quantize.codes(h)
        return Encoded(latents: h, codes: codes, codeShape: [h.shape[0], h.shape[2], h.shape[3]], quantizationError: err)
    }

    /// `codes` of shape `[N, h, w]`, already checked against the codebook (`VQModel.checkCodes`).
    func decode(codes: [Int], shape: [Int]) throws -> Tensor {
        let q = try quantize.entries(codes, n: shape[0], h: shape[1], w: shape[2])
        return try decoder(try postQuantConv(q)).plain()
    }
}

/// The rows of an `[n_embed, embed_dim]` codebook as `get_codebook_entry` returns them, `[N, embed_dim, h, w]`, and
/// the squared distance of each latent to its chosen row: what the quantizers that look codes up in an
/// `nn.Embedding` (VectorQuantizer2, IndexPropagationQuantize, GumbelQuantize's `embed`, LlamaGen's) share.
struct CodebookRows {
    let table: Tensor
    var count: Int { table.shape[0] }
    var dimension: Int { table.shape[1] }

    init(_ table: Tensor) { self.table = table }

    /// `weight` [n_embed, embed_dim] of the `nn.Embedding` under `w`.
    init(_ w: Weights, count: Int, dimension: Int) throws {
        table = try Tensor(shape: [count, dimension], values: try w.tensor("weight", shape: [count, dimension]))
    }

    /// `z` `[N, C, h, w]` as rows `[N·h·w, C]` in (n, h, w) order ('b c h w -> (b h w) c'), and N.
    static func latentRows(_ z: Tensor, dimension: Int) throws -> (rows: Tensor, images: Int) {
        let tokens = try z.imageToTokens()
        return (try tokens.reshaped([tokens.shape[0] * tokens.shape[1], dimension]), tokens.shape[0])
    }

    /// Each row's squared distance to its code's row.
    func errors(_ rows: Tensor, _ codes: [Int]) throws -> [Float] {
        rowSquaredDistances(rows, try Tensor.gatherRows(table, codes))
    }

    func entries(_ codes: [Int], n: Int, h: Int, w: Int) throws -> Tensor {
        try Tensor.gatherRows(table, codes).reshaped([n, h * w, dimension]).tokensToImage(height: h, width: w)
    }
}
