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

public final class GumbelQuantize: SpatialQuantizer, @unchecked Sendable {
    public let nEmbed: Int
    public let embedDim: Int
    public let numHiddens: Int
    let embed: CodebookRows
    let proj: DotProductArgmax

    public init(_ w: Weights, numHiddens: Int, embeddingDim: Int, nEmbed: Int) throws {
        self.nEmbed = nEmbed; self.embedDim = embeddingDim; self.numHiddens = numHiddens
        let pw = w.scope("proj")
        let weight = try pw.tensor("weight", shape: [nEmbed, numHiddens, 1, 1])
        let bias = try pw.tensor("bias", shape: [nEmbed])
        // A 1x1 convolution is a dot product per position: its [n_embed, z] weight is the argmax table.
        proj = try DotProductArgmax(table: try Tensor(shape: [nEmbed, numHiddens], values: weight), bias: bias)
        embed = try CodebookRows(w.scope("embed"), count: nEmbed, dimension: embeddingDim)
    }

    public var codebookSize: Int { nEmbed }

    /// `z`: [N, z_channels, h, w]. The noise-free codes in (n, h, w) order, and each position's squared distance
    /// between z and its code's `embed` row (the vector the decoder receives in its place; GumbelVQ has
    /// embed_dim == z_channels).
    public func codes(_ z: Tensor) throws -> (codes: [Int], error: [Float]) {
        let (flat, images) = try CodebookRows.latentRows(z, dimension: numHiddens)
        let (idx, _) = try proj(flat, images: images)
        return (idx, try embed.errors(flat, idx))
    }

    /// `get_codebook_entry(indices, (N, h, w, embed_dim))`: the `embed` rows as [N, embed_dim, h, w].
    public func entries(_ codes: [Int], n: Int, h: Int, w: Int) throws -> Tensor {
        try embed.entries(codes, n: n, h: h, w: w)
    }
}
