// taming-transformers `VectorQuantizer2` (quantize.py), eval path: nearest code by the expanded squared Euclidean
// distance ‖z‖² + ‖e‖² − 2 z·e in float32, first index on ties. Key: `embedding.weight` [n_embed, embed_dim].

import NN
import Tensor

public final class VectorQuantizer2: SpatialQuantizer, @unchecked Sendable {
    public let nEmbed: Int
    public let embedDim: Int
    let embedding: CodebookRows
    let search: CodebookSearch

    public init(_ w: Weights, nEmbed: Int, embedDim: Int) throws {
        self.nEmbed = nEmbed; self.embedDim = embedDim
        embedding = try CodebookRows(w.scope("embedding"), count: nEmbed, dimension: embedDim)
        search = try CodebookSearch(codes: embedding.table)
    }

    public var codebookSize: Int { nEmbed }

    /// `z`: `[N, C, h, w]`. Returns codes in (n, h, w) order and each position's squared distance to its code.
    public func codes(_ z: Tensor) throws -> (codes: [Int], error: [Float]) {
        let (flat, _) = try CodebookRows.latentRows(z, dimension: embedDim)     // 'b c h w -> (b h w) c'
        let (idx, _) = try search.nearest(flat, metric: .squaredEuclidean)
        return (idx, try embedding.errors(flat, idx))
    }

    /// `get_codebook_entry(indices, shape=(N, h, w, C))`: `[N, C, h, w]`.
    public func entries(_ codes: [Int], n: Int, h: Int, w: Int) throws -> Tensor {
        try embedding.entries(codes, n: n, h: h, w: w)
    }
}
