// Kernel Inception Distance as torch-fidelity 0.4.0 computes it (`metric_kid.py`, `kid_features_to_metric`):
//   rng = np.random.RandomState(2020)
//   for each of `subsets` subsets:
//       f1 = features_1[rng.choice(n1, m, replace=False)];  f2 = features_2[rng.choice(n2, m, replace=False)]
//       k(x, y) = (x·y / d + 1)^3                                  (polynomial kernel, gamma = 1/d, coef0 = 1)
//       mmd² = (Σ_{i≠j} k(x_i, x_j) + Σ_{i≠j} k(y_i, y_j)) / (m(m-1)) - 2 Σ_{i,j} k(x_i, y_j) / m²   (unbiased)
//   KID = mean of the mmd²s, std = np.std (ddof 0).
// The subsets are the very rows torch-fidelity draws (`NumpyRandomState`). torch-fidelity refuses a subset size
// above either set's size; vqrt then uses the smaller set's size, which is what torch-fidelity computes when given
// `kid_subset_size=n` (the size used is reported).
//
// torch-fidelity runs this in float32 (its features are float32 numpy arrays, so `np.matmul` is an sgemm and the
// sums are float32); the kernel sums cancel in mmd², so its float32 result carries a rounding error of its own
// (tools/make_metric_fixtures.py measures it against the same code on float64 features). vqrt widens the float32
// features to float64 exactly and computes the Gram matrices with dsyrk/dgemm, i.e. the float64 value.
import CLAPACK
import Foundation
import Tensor

public struct KernelInceptionDistance: Sendable {
    /// torch-fidelity's defaults (`defaults.py`): `kid_subsets`, `kid_subset_size`, `rng_seed`.
    public static let defaultSubsets = 100
    public static let defaultSubsetSize = 1000
    public static let torchFidelitySeed: UInt32 = 2020

    public struct Result: Equatable, Sendable {
        /// Mean and population standard deviation of the per-subset unbiased MMD² estimates.
        public let mean: Double
        public let std: Double
        public let subsets: Int
        /// The subset size used: the one asked for, or the smaller set's size if that is smaller.
        public let subsetSize: Int
        public let countA: Int
        public let countB: Int
        /// Every subset's MMD², in drawing order.
        public let perSubset: [Double]
    }

    public let subsets: Int
    public let subsetSize: Int
    public let seed: UInt32
    /// Polynomial kernel (x·y·gamma + coef0)^degree; gamma nil means 1/d.
    public let degree: Int
    public let gamma: Double?
    public let coef0: Double

    public init(subsets: Int = defaultSubsets, subsetSize: Int = defaultSubsetSize, seed: UInt32 = torchFidelitySeed,
                degree: Int = 3, gamma: Double? = nil, coef0: Double = 1) throws {
        guard subsets > 0, subsets <= 1 << 20 else { throw MetricsError.invalidArgument("KID needs at least one subset, got \(subsets)") }
        guard subsetSize >= 2 else {
            throw MetricsError.invalidArgument("KID subset size \(subsetSize): the unbiased estimate needs at least 2 samples per subset")
        }
        guard degree >= 1, degree <= 16, gamma.map({ $0.isFinite && $0 > 0 }) ?? true, coef0.isFinite else {
            throw MetricsError.invalidArgument("polynomial kernel degree \(degree), gamma \(String(describing: gamma)), coef0 \(coef0)")
        }
        self.subsets = subsets; self.subsetSize = subsetSize; self.seed = seed
        self.degree = degree; self.gamma = gamma; self.coef0 = coef0
    }

    /// KID between two feature sets, each row-major [n, dimension] float32 (e.g. pool3 features as written by
    /// `vqrt features`, memory-mapped).
    /// `workers` subsets run at once (default: `Threading.threads`), each needing `bytesPerWorker`; the result
    /// does not depend on it.
    public func callAsFunction(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>,
                               dimension d: Int, workers: Int? = nil) throws -> Result {
        guard d > 0 else { throw MetricsError.invalidArgument("feature dimension \(d)") }
        guard a.count % d == 0, b.count % d == 0 else {
            throw MetricsError.shapeMismatch("\(a.count) and \(b.count) values are not whole rows of \(d)")
        }
        let n1 = a.count / d, n2 = b.count / d
        guard n1 >= 2, n2 >= 2 else {
            throw MetricsError.notEnoughSamples("KID needs at least 2 feature vectors in each set, got \(n1) and \(n2)")
        }
        for v in a where !v.isFinite { throw MetricsError.notFinite("the first feature set contains NaN or infinite values") }
        for v in b where !v.isFinite { throw MetricsError.notFinite("the second feature set contains NaN or infinite values") }
        _ = OpenBLASKernels.ensured
        let m = min(subsetSize, n1, n2)
        let g = gamma ?? 1.0 / Double(d)
        // Subsets are drawn in torch-fidelity's order (one generator, subset after subset) a round at a time; a
        // round's subsets are independent and run side by side, each on one thread with one OpenBLAS thread, so
        // every subset's arithmetic (and so the result's bits) is the same whatever the number of workers.
        var rng = NumpyRandomState(seed: seed)
        let workers = max(1, min(workers ?? Threading.threads, subsets))
        let round = workers * 4
        var mmds = [Double](repeating: 0, count: subsets)
        var scratch = (0..<workers).map { _ in SubsetScratch(m: m, d: d) }
        for first in stride(from: 0, to: subsets, by: round) {
            var draws: [(rows1: [Int], rows2: [Int])] = []
            for _ in first..<min(first + round, subsets) {
                let rows1 = try rng.choiceWithoutReplacement(n1, size: m)
                draws.append((rows1, try rng.choiceWithoutReplacement(n2, size: m)))
            }
            mmds.withUnsafeMutableBufferPointer { out in
                scratch.withUnsafeMutableBufferPointer { buffers in
                    let results = out, buffers = buffers
                    LinearAlgebra.withOpenBLASThreads(1) {
                        Threading.parallelChunks(min(workers, draws.count)) { worker in
                            for i in stride(from: worker, to: draws.count, by: workers) {
                                results[first + i] = mmd(a, b, draws[i].rows1, draws[i].rows2, m: m, d: d, g: g,
                                                         scratch: &buffers[worker])
                            }
                        }
                    }
                }
            }
        }
        let mean = mmds.reduce(0, +) / Double(mmds.count)
        let variance = mmds.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(mmds.count)
        guard mean.isFinite, variance.isFinite else { throw MetricsError.notFinite("KID is not finite") }
        return Result(mean: mean, std: variance.squareRoot(), subsets: subsets, subsetSize: m, countA: n1, countB: n2,
                      perSubset: mmds)
    }

    /// One subset's buffers: the gathered rows (float64) and the three Gram matrices.
    private struct SubsetScratch {
        var x: [Double], y: [Double], kxx: [Double], kyy: [Double], kxy: [Double]
        init(m: Int, d: Int) {
            x = [Double](repeating: 0, count: m * d); y = x
            kxx = [Double](repeating: 0, count: m * m); kyy = kxx; kxy = kxx
        }
    }

    /// The unbiased MMD² of one subset: rows `rows1` of `a` against rows `rows2` of `b`.
    private func mmd(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>, _ rows1: [Int], _ rows2: [Int],
                     m: Int, d: Int, g: Double, scratch t: inout SubsetScratch) -> Double {
        gather(a, rows1, d, into: &t.x)
        gather(b, rows2, d, into: &t.y)
        gram(t.x, m, d, into: &t.kxx)
        gram(t.y, m, d, into: &t.kyy)
        t.x.withUnsafeBufferPointer { xp in
            t.y.withUnsafeBufferPointer { yp in
                t.kxy.withUnsafeMutableBufferPointer { kp in
                    // Column-major view of the row-major [m, d] arrays is d×m; K_XY[i, j] = x_i·y_j.
                    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, blasint(m), blasint(m), blasint(d), 1,
                                xp.baseAddress, blasint(d), yp.baseAddress, blasint(d), 0, kp.baseAddress, blasint(m))
                }
            }
        }
        let sxx = offDiagonalKernelSum(t.kxx, m, g), syy = offDiagonalKernelSum(t.kyy, m, g)
        var sxy = 0.0
        for v in t.kxy { sxy += kernel(v, g) }
        let mm = Double(m)
        return (sxx + syy) / (mm * (mm - 1)) - 2 * sxy / (mm * mm)
    }

    /// Convenience for arrays.
    public func callAsFunction(_ a: [Float], _ b: [Float], dimension: Int, workers: Int? = nil) throws -> Result {
        try a.withUnsafeBufferPointer { ap in
            try b.withUnsafeBufferPointer { bp in try self(ap, bp, dimension: dimension, workers: workers) }
        }
    }

    /// Memory one worker needs for sets of `countA` and `countB` rows of `dimension`: the two gathered subsets in
    /// float64 and three m×m Gram matrices.
    public func bytesPerWorker(countA: Int, countB: Int, dimension: Int) -> Int {
        let m = min(subsetSize, countA, countB)
        let (mm, o1) = m.multipliedReportingOverflow(by: m)
        let (md, o2) = m.multipliedReportingOverflow(by: dimension)
        let (grams, o3) = mm.multipliedReportingOverflow(by: 3)
        let (rows, o4) = md.multipliedReportingOverflow(by: 2)
        let (total, o5) = grams.addingReportingOverflow(rows)
        return o1 || o2 || o3 || o4 || o5 || total > Int.max / 8 ? Int.max : total * 8
    }

    @inline(__always)
    private func kernel(_ dot: Double, _ g: Double) -> Double {
        let base = dot * g + coef0
        var r = base
        for _ in 1..<degree { r *= base }
        return r
    }

    private func gather(_ src: UnsafeBufferPointer<Float>, _ rows: [Int], _ d: Int, into out: inout [Double]) {
        out.withUnsafeMutableBufferPointer { o in
            for (i, r) in rows.enumerated() {
                let s = src.baseAddress! + r * d, t = o.baseAddress! + i * d
                for j in 0..<d { t[j] = Double(s[j]) }
            }
        }
    }

    /// Upper triangle (column-major) of X·Xᵀ for row-major X [m, d].
    private func gram(_ x: [Double], _ m: Int, _ d: Int, into k: inout [Double]) {
        x.withUnsafeBufferPointer { xp in
            k.withUnsafeMutableBufferPointer { kp in
                cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, blasint(m), blasint(d), 1, xp.baseAddress,
                            blasint(d), 0, kp.baseAddress, blasint(m))
            }
        }
    }

    /// Σ_{i≠j} k over a symmetric Gram matrix of which the upper triangle (column-major) is filled.
    private func offDiagonalKernelSum(_ k: [Double], _ m: Int, _ g: Double) -> Double {
        var s = 0.0
        for j in 1..<m {
            var column = 0.0
            for i in 0..<j { column += kernel(k[i + j * m], g) }
            s += column
        }
        return 2 * s
    }
}
