// torch.nn.Embedding. Key: `weight` [count, dim].
import Tensor

public final class Embedding: @unchecked Sendable {
    public let count: Int
    public let dimension: Int
    /// The table, [count, dim].
    public let weight: Tensor

    /// `key` is the tensor's name in this scope ("weight" for nn.Embedding; e.g. "embed" for other codebooks).
    public init(_ w: Weights, count: Int, dimension: Int, key: String = "weight") throws {
        guard count > 0, dimension > 0 else {
            throw WeightError.invalidConfiguration("Embedding(\(count), \(dimension)) at '\(w.prefix)'")
        }
        self.count = count
        self.dimension = dimension
        weight = try Tensor(shape: [count, dimension], values: try w.tensor(key, shape: [count, dimension]))
    }

    /// Rows for `indices`: [indices.count, dim]; an index outside the table is an error.
    public func callAsFunction(_ indices: [Int]) throws -> Tensor {
        try Tensor.gatherRows(weight, indices)
    }
}
