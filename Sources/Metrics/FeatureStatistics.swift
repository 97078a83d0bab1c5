// Streaming mean and covariance of feature vectors in float64, mergeable across shards, so FID never needs all
// features in memory (pytorch-fid keeps an [N, 2048] float64 array and calls np.mean / np.cov on it).
//
// State: count n, mean, and M2 = Σ (x - mean)(x - mean)ᵀ. A batch is folded in with the pairwise update of
// Chan, Golub & LeVeque: the batch's own mean and centred M2 (one dsyrk over the centred batch), then
//   δ = mean_b - mean_a;  mean = mean_a + δ·n_b/n;  M2 = M2_a + M2_b + δδᵀ·n_a·n_b/n.
// Centring before the products avoids the cancellation of the raw-moment formula Σxxᵀ - n·μμᵀ; results agree with
// numpy's two-pass computation to ~1e-15 relative. Merging two shards is the same update, so the order of
// batches and shards changes only rounding.
import Foundation
import NPY
import CLAPACK
import Tensor

/// Accumulators whose partial state can be saved, reloaded and merged (sharded evaluation).
public protocol MergeableAccumulator {
    /// Folds `other`'s observations into this accumulator.
    mutating func merge(_ other: Self) throws
    /// The partial state as named arrays whose names start with `prefix`.
    func archived(prefix: String) throws -> [(String, NPYArray)]
    /// Restores a partial state written by `archived(prefix:)`; `file` names the source in errors.
    init(archive: NPZArchive, prefix: String, file: String) throws
}

public struct FeatureStatistics: MergeableAccumulator, Sendable {
    public let dimension: Int
    /// Number of feature vectors seen.
    public private(set) var count: Int = 0
    private var mean: [Double]
    /// Σ (x - mean)(x - mean)ᵀ, column-major; only the upper triangle is maintained.
    private var m2: [Double]

    public init(dimension: Int) throws {
        guard dimension > 0, dimension <= 1 << 14 else {
            throw MetricsError.invalidArgument("feature dimension \(dimension)")
        }
        self.dimension = dimension
        mean = [Double](repeating: 0, count: dimension)
        m2 = [Double](repeating: 0, count: dimension * dimension)
    }

    /// Adds `rows` feature vectors stored one after another (row-major [rows, dimension], float32 as networks give
    /// them; widened to float64 exactly, as pytorch-fid's `pred_arr` does).
    public mutating func add(_ features: UnsafeBufferPointer<Float>, rows: Int) throws {
        try addRows(features, rows: rows)
    }

    /// Adds `rows` float64 feature vectors (row-major [rows, dimension]).
    public mutating func add(_ features: UnsafeBufferPointer<Double>, rows: Int) throws {
        try addRows(features, rows: rows)
    }

    private mutating func addRows<T: BinaryFloatingPoint>(_ features: UnsafeBufferPointer<T>, rows: Int) throws {
        guard rows >= 0, features.count == rows * dimension else {
            throw MetricsError.shapeMismatch("\(features.count) values are not \(rows) rows of \(dimension)")
        }
        if rows == 0 { return }
        _ = OpenBLASKernels.ensured
        let d = dimension
        let base = features.baseAddress!
        var batchMean = [Double](repeating: 0, count: d)
        for r in 0..<rows {
            let row = base + r * d
            for j in 0..<d { batchMean[j] += Double(row[j]) }
        }
        let inv = 1.0 / Double(rows)
        for j in 0..<d { batchMean[j] *= inv }
        guard batchMean.allSatisfy(\.isFinite) else {
            throw MetricsError.notFinite("features contain NaN or infinite values")
        }
        // Centred batch, column-major d×rows (one sample per column), and its M2 added into ours.
        var centred = [Double](repeating: 0, count: rows * d)
        for r in 0..<rows {
            let row = base + r * d
            for j in 0..<d { centred[r * d + j] = Double(row[j]) - batchMean[j] }
        }
        fold(batchMean: batchMean, batchCount: rows) { m2 in
            centred.withUnsafeBufferPointer { c in
                cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, blasint(d), blasint(rows), 1, c.baseAddress,
                            blasint(d), 1, m2.baseAddress, blasint(d))
            }
        }
    }

    /// Adds the rows of a float32 array laid out [rows, dimension].
    public mutating func add(_ features: [Float]) throws {
        guard features.count % dimension == 0 else {
            throw MetricsError.shapeMismatch("\(features.count) values are not whole rows of \(dimension)")
        }
        try features.withUnsafeBufferPointer { try add($0, rows: features.count / dimension) }
    }

    /// Adds the rows of a plain [N, dimension] tensor (e.g. Inception's pool3).
    public mutating func add(_ features: Tensor) throws {
        guard features.rank == 2, features.shape[1] == dimension else {
            throw MetricsError.shapeMismatch("features \(features.shape), expected [N, \(dimension)]")
        }
        let t = features.plain()
        try add(UnsafeBufferPointer(start: t.pointer, count: t.count), rows: t.shape[0])
    }

    /// Chan's update with a batch (or shard) of `batchCount` samples whose mean is `batchMean`; `addM2` adds the
    /// batch's own centred M2 into the (upper triangle of the) given buffer.
    private mutating func fold(batchMean: [Double], batchCount nb: Int,
                               addM2: (UnsafeMutableBufferPointer<Double>) -> Void) {
        let d = dimension
        let na = count, n = na + nb
        m2.withUnsafeMutableBufferPointer { addM2($0) }
        if na == 0 {
            mean = batchMean
        } else {
            var delta = [Double](repeating: 0, count: d)
            for j in 0..<d { delta[j] = batchMean[j] - mean[j] }
            let w = Double(nb) / Double(n)
            for j in 0..<d { mean[j] += delta[j] * w }
            let scale = Double(na) * Double(nb) / Double(n)
            delta.withUnsafeBufferPointer { dp in
                m2.withUnsafeMutableBufferPointer { mp in
                    cblas_dsyr(CblasColMajor, CblasUpper, blasint(d), scale, dp.baseAddress, 1, mp.baseAddress, blasint(d))
                }
            }
        }
        count = n
    }

    public mutating func merge(_ other: FeatureStatistics) throws {
        guard other.dimension == dimension else {
            throw MetricsError.incompatible("feature dimensions \(dimension) and \(other.dimension)")
        }
        if other.count == 0 { return }
        _ = OpenBLASKernels.ensured
        let d = dimension
        fold(batchMean: other.mean, batchCount: other.count) { m2 in
            other.m2.withUnsafeBufferPointer { o in
                for j in 0..<d { for i in 0...j { m2[i + j * d] += o[i + j * d] } }
            }
        }
    }

    /// mu and sigma (ddof 1) as pytorch-fid computes them from the same features.
    public func statistics() throws -> GaussianStatistics {
        guard count >= 2 else {
            throw MetricsError.notEnoughSamples("a covariance needs at least 2 feature vectors, got \(count)")
        }
        let d = dimension
        // np.cov multiplies by the reciprocal of (N - 1).
        let f = 1.0 / Double(count - 1)
        var sigma = [Double](repeating: 0, count: d * d)
        for j in 0..<d {
            for i in 0...j {
                let v = m2[i + j * d] * f
                sigma[i * d + j] = v
                sigma[j * d + i] = v
            }
        }
        return try GaussianStatistics(mu: mean, sigma: sigma, count: count)
    }

    public func archived(prefix: String) throws -> [(String, NPYArray)] {
        [(prefix + "count", try NPYArray(int64s: [Int64(count)], shape: [])),
         (prefix + "mean", try NPYArray(doubles: mean, shape: [dimension])),
         (prefix + "m2", try NPYArray(doubles: m2, shape: [dimension, dimension]))]
    }

    public init(archive: NPZArchive, prefix: String, file: String) throws {
        let c = try archive.array(prefix + "count", file: file)
        let m = try archive.array(prefix + "mean", file: file)
        let s = try archive.array(prefix + "m2", file: file)
        guard m.shape.count == 1, m.shape[0] > 0, s.shape == [m.shape[0], m.shape[0]], c.count == 1,
              let n = try c.int64s().first, n >= 0 else {
            throw MetricsError.badFile(file: file, message: "feature statistics '\(prefix)' have inconsistent shapes")
        }
        try self.init(dimension: m.shape[0])
        count = Int(n)
        mean = try m.doubles()
        m2 = try s.doubles()
    }
}
