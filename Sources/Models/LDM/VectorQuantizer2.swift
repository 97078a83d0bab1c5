// taming-transformers `VectorQuantizer2` (quantize.py), eval path: nearest code by the expanded squared Euclidean
// distance ‖z‖² + ‖e‖² − 2 z·e in float32, first index on ties. Key: `embedding.weight` [n_embed, embed_dim].

import NN
import Tensor

public final class VectorQuantizer2: @unchecked Sendable {
    public let nEmbed: Int
    public let embedDim: Int
    let embedding: Tensor
    let search: CodebookSearch

    public init(_ w: Weights, nEmbed: Int, embedDim: Int) throws {
        self.nEmbed = nEmbed; self.embedDim = embedDim
        embedding = try Tensor(shape: [nEmbed, embedDim], values: try w.scope("embedding").tensor("weight", shape: [nEmbed, embedDim]))
        search = try CodebookSearch(codes: embedding)
    }

    /// `z`: `[N, C, h, w]`. Returns codes in (n, h, w) order and each position's squared distance to its code.
    public func codes(_ z: Tensor) throws -> (codes: [Int], error: [Float]) {
        let tokens = try z.imageToTokens()                        // 'b c h w -> b (h w) c'
        let flat = try tokens.reshaped([tokens.shape[0] * tokens.shape[1], embedDim])
        let (idx, _) = try search.nearest(flat, metric: .squaredEuclidean)
        let chosen = try Tensor.gatherRows(embedding, idx)
        return (idx, rowSquaredDistances(flat, chosen))
    }

    /// `get_codebook_entry(indices, shape=(N, h, w, C))`: `[N, C, h, w]`.
    public func entries(_ codes: [Int], n: Int, h: Int, w: Int) throws -> Tensor {
        let rows = try Tensor.gatherRows(embedding, codes)
        return try rows.reshaped([n, h * w, embedDim]).tokensToImage(height: h, width: w)
    }
}
