// lucidrains `VectorQuantize` (vector-quantize-pytorch 1.14-1.20) as the rotation_trick VQ-VAEs configure it:
// heads 1, no projection inside the quantizer, cosine or Euclidean codebook `_codebook.embed` [1, K, D].
// Eval: cosine → l2-normalise the input, argmax of z·e against the codebook AS STORED; Euclidean → argmax of
// −cdist (sqrt of the clamped expanded distance), first index on ties.

import NN
import Tensor

public final class LucidrainsVectorQuantize: @unchecked Sendable {
    public let codebookSize: Int
    public let dimension: Int
    public let cosine: Bool
    /// `l2norm` eps: 1e-12 up to 1.18.0, 1e-6 from 1.18.1 (only matters for near-zero inputs).
    public let l2Eps: Float
    let embed: Tensor
    let search: CodebookSearch

    public init(_ w: Weights, codebookSize: Int, dimension: Int, cosine: Bool, l2Eps: Float = 1e-12) throws {
        self.codebookSize = codebookSize; self.dimension = dimension; self.cosine = cosine; self.l2Eps = l2Eps
        let values = try w.scope("_codebook").tensor("embed", shape: [1, codebookSize, dimension])
        embed = try Tensor(shape: [codebookSize, dimension], values: values)
        search = try CodebookSearch(codes: embed)
    }

    /// `transform_input`: the quantizer's own space.
    func transformInput(_ flat: Tensor) throws -> Tensor { cosine ? try flat.l2Normalized(eps: l2Eps) : flat }

    /// `flat`: `[R, D]` quantizer inputs. Returns the chosen codes and each row's squared distance to its code in
    /// the quantizer's space.
    public func codes(_ flat: Tensor) throws -> (codes: [Int], error: [Float]) {
        let x = try transformInput(flat)
        let (idx, _) = try search.nearest(x, metric: cosine ? .dot : .euclidean)
        return (idx, rowSquaredDistances(x, try Tensor.gatherRows(embed, idx)))
    }

    /// The stored code vectors `[R, D]`.
    public func vectors(_ codes: [Int]) throws -> Tensor { try Tensor.gatherRows(embed, codes) }
}
