// IBQ's `IndexPropagationQuantize` (SEED-Voken src/IBQ/modules/vqvae/quantize.py), eval path, remap off:
//   logits = einsum('b d h w, n d -> b n h w', z, embedding.weight)      (plain dot products: no distance, no
//   ind    = softmax(logits, dim=1).max(1)                                 normalisation of z or of the codebook)
//   z_q    = one_hot(ind) · embedding.weight
// The softmax is monotonic, so the code is the argmax of the dot product (first index on ties; the softmax can
// only merge scores closer than float32 resolves, far inside the 1e-5 ties the tests exempt). Decoding from codes
// is `get_codebook_entry`: the embedding rows. Key: `embedding.weight` [n_e, e_dim].

import NN
import Tensor

public final class IndexPropagationQuantize: SpatialQuantizer, @unchecked Sendable {
    public let nEmbed: Int
    public let embedDim: Int
    let embedding: CodebookRows
    let search: DotProductArgmax

    public init(_ w: Weights, nEmbed: Int, embedDim: Int) throws {
        self.nEmbed = nEmbed; self.embedDim = embedDim
        embedding = try CodebookRows(w.scope("embedding"), count: nEmbed, dimension: embedDim)
        search = try DotProductArgmax(table: embedding.table)
    }

    public var codebookSize: Int { nEmbed }

    /// `z`: [N, e_dim, h, w]. Codes in (n, h, w) order and each position's squared distance to its code.
    public func codes(_ z: Tensor) throws -> (codes: [Int], error: [Float]) {
        let (flat, images) = try CodebookRows.latentRows(z, dimension: embedDim)     // 'b d h w -> (b h w) d'
        let (idx, _) = try search(flat, images: images)
        return (idx, try embedding.errors(flat, idx))
    }

    /// `get_codebook_entry(indices, (N, h, w, e_dim))`: [N, e_dim, h, w].
    public func entries(_ codes: [Int], n: Int, h: Int, w: Int) throws -> Tensor {
        try embedding.entries(codes, n: n, h: h, w: w)
    }
}
