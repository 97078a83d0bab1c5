// taming-transformers `GumbelQuantize` (taming/modules/vqvae/quantize.py), remap off. Upstream's forward, in eval
// mode too (`hard = ... else True`):
//   logits = proj(z)                                           (1x1 conv z_channels -> n_embed, with bias)
//   soft_one_hot = F.gumbel_softmax(logits, tau=temperature, dim=1, hard=True)   <- draws Gumbel noise every call
//   ind = soft_one_hot.argmax(dim=1);  z_q = one_hot · embed.weight
// so upstream's codes are random. vqrt takes the noise-free code, argmax of the logits (first index on ties):
// deterministic, and what gumbel_softmax tends to as its noise vanishes. Decoding from codes is
// `get_codebook_entry`: the `embed` rows. Keys: `proj.weight` [n_embed, z_channels, 1, 1], `proj.bias`,
// `embed.weight` [n_embed, embed_dim] (no `embedding`).

import NN
import Tensor

public final class GumbelQuantize: @unchecked Sendable {
    public let nEmbed: Int
    public let embedDim: Int
    public let numHiddens: Int
    let embed: Tensor
    let proj: DotProductArgmax

    public init(_ w: Weights, numHiddens: Int, embeddingDim: Int, nEmbed: Int) throws {
        self.nEmbed = nEmbed; self.embedDim = embeddingDim; self.numHiddens = numHiddens
        let pw = w.scope("proj")
        let weight = try pw.tensor("weight", shape: [nEmbed, numHiddens, 1, 1])
        let bias = try pw.tensor("bias", shape: [nEmbed])
        // A 1x1 convolution is a dot product per position: its [n_embed, z] weight is the argmax table.
        proj = try DotProductArgmax(table: try Tensor(shape: [nEmbed, numHiddens], values: weight), bias: bias)
        embed = try Tensor(shape: [nEmbed, embeddingDim], values: try w.scope("embed").tensor("weight", shape: [nEmbed, embeddingDim]))
    }

    /// `z`: [N, z_channels, h, w]. The noise-free codes in (n, h, w) order, and each position's squared distance
    /// between z and its code's `embed` row (the vector the decoder receives in its place; GumbelVQ has
    /// embed_dim == z_channels).
    public func codes(_ z: Tensor) throws -> (codes: [Int], error: [Float]) {
        let tokens = try z.imageToTokens()
        let flat = try tokens.reshaped([tokens.shape[0] * tokens.shape[1], numHiddens])
        let (idx, _) = try proj(flat, images: tokens.shape[0])
        let chosen = try Tensor.gatherRows(embed, idx)
        return (idx, rowSquaredDistances(flat, chosen))
    }

    /// `get_codebook_entry(indices, (N, h, w, embed_dim))`: the `embed` rows as [N, embed_dim, h, w].
    public func entries(_ codes: [Int], n: Int, h: Int, w: Int) throws -> Tensor {
        let rows = try Tensor.gatherRows(embed, codes)
        return try rows.reshaped([n, h * w, embedDim]).tokensToImage(height: h, width: w)
    }
}
