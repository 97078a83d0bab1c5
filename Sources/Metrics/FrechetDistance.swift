// Fréchet distance between two Gaussians (pytorch-fid 0.3.0 `calculate_frechet_distance`, spec/metrics.md §5.2):
//   FID = |mu1 - mu2|² + tr(S1) + tr(S2) - 2·tr(sqrtm(S1·S2))
//
// tr(sqrtm(S1·S2)) is computed by the symmetric eigen route (§5.4): S1·S2 is similar to a symmetric positive
// semi-definite matrix, so the trace is Σ sqrt(λ_i) of its eigenvalues:
// - Cholesky route (both covariances positive definite, the usual case with N > D samples): S1 = L·Lᵀ and
//   M = Lᵀ·S2·L, whose eigenvalues are those of S1·S2 (LinearAlgebra.congruenceEigenvalues: only M's lower
//   triangle is formed, then LAPACK's two-stage tridiagonal reduction and dsterf); agrees with scipy to ~1e-13.
//   S2's Cholesky factorisation only tells whether S2 is positive definite; it runs alongside the eigen-solve.
// - factor route (a covariance is singular: fewer samples than dimensions, or forced with `.eigen`): each Sᵢ is
//   written Bᵢ·Bᵢᵀ, with Bᵢ = Vᵢ·diag(√wᵢ) over the eigenvalues wᵢ above n·ε·max(w) (a singular covariance's
//   ~2000 rounding-level eigenvalues are its null space) or Bᵢ = Lᵢ for a positive-definite one; then
//   tr sqrtm(S1·S2) = Σ σ(B1ᵀ·B2), the nuclear norm of a k1×k2 matrix (LAPACK dgesdd). Working with σ rather than
//   σ² = λ keeps small singular values exact (their roots are not taken from rounding-level eigenvalues), so the
//   result matches Σ σ(X1·X2ᵀ) / sqrt((N1-1)(N2-1)) computed from the centred features to ~1e-9 or better
//   (Tests/MetricsTests), where scipy's sqrtm, which pytorch-fid uses, is off by 1e-7 to 1e-6 on the same data
//   (it warns "Matrix is singular").
// Negative eigenvalues beyond the rounding level (a covariance file that is not positive semi-definite) would make
// scipy's sqrtm complex (pytorch-fid keeps the real part, or raises "Imaginary component" when a diagonal
// imaginary part exceeds 1e-3); they are counted so callers can warn.
// pytorch-fid's guard: if the result is not finite (here: LAPACK failed to converge), both covariances get
// `eps` added to their diagonals and the computation is repeated.
import CLAPACK

public struct FrechetDistance: Sendable {
    /// How tr(sqrtm(S1·S2)) is computed.
    public enum Route: String, Sendable {
        /// Cholesky when S1 is positive definite, else the eigen route.
        case automatic
        case cholesky
        case eigen
    }

    /// The distance.
    public let value: Double
    /// |mu1 - mu2|².
    public let meanTerm: Double
    /// tr(S1) + tr(S2) - 2·tr(sqrtm(S1·S2)).
    public let covarianceTerm: Double
    /// tr(sqrtm(S1·S2)).
    public let traceSqrtProduct: Double
    /// The route actually taken (the automatic route reports which one).
    public let route: Route
    /// Whether pytorch-fid's `eps` diagonal offset had to be applied.
    public let offsetApplied: Bool
    /// Eigenvalues of S1·S2 that came out negative (clamped to 0), and the most negative one (0 if none).
    public let negativeEigenvalues: Int
    public let mostNegativeEigenvalue: Double

    /// Whether pytorch-fid would likely have stopped with "Imaginary component": a negative eigenvalue whose square
    /// root exceeds its 1e-3 tolerance.
    public var imaginaryComponentSuspected: Bool { mostNegativeEigenvalue < -1e-6 }

    /// FID between two sets' statistics.
    public static func compute(_ a: GaussianStatistics, _ b: GaussianStatistics, eps: Double = 1e-6,
                               route: Route = .automatic) throws -> FrechetDistance {
        let d = a.dimension
        guard b.dimension == d else {
            throw MetricsError.shapeMismatch("statistics of dimension \(d) and \(b.dimension)")
        }
        guard a.isFinite, b.isFinite else { throw MetricsError.notFinite("the statistics contain NaN or infinite values") }
        var meanTerm = 0.0
        for i in 0..<d { let t = a.mu[i] - b.mu[i]; meanTerm += t * t }
        var traces = 0.0
        for i in 0..<d { traces += a.sigma[i * d + i] }
        for i in 0..<d { traces += b.sigma[i * d + i] }

        // Statistics of at most D samples are singular whatever dpotrf happens to say.
        let singular1 = (a.count ?? Int.max) <= d, singular2 = (b.count ?? Int.max) <= d
        var offsetApplied = false
        var result: (trace: Double, route: Route, negatives: Int, mostNegative: Double)
        do {
            result = try traceSqrtProduct(a.sigma, b.sigma, n: d, route: route, singular1: singular1, singular2: singular2)
            if !result.trace.isFinite { throw MetricsError.notFinite("tr sqrtm") }
        } catch let e as MetricsError {
            if case .invalidArgument = e { throw e }
            // pytorch-fid: "fid calculation produces singular product; adding eps to diagonal of cov estimates".
            offsetApplied = true
            var s1 = a.sigma, s2 = b.sigma
            for i in 0..<d { s1[i * d + i] += eps; s2[i * d + i] += eps }
            result = try traceSqrtProduct(s1, s2, n: d, route: route, singular1: false, singular2: false)
            guard result.trace.isFinite else {
                throw MetricsError.notFinite("tr(sqrtm(S1·S2)) is not finite even with eps = \(eps) on the diagonals")
            }
        }
        let covarianceTerm = traces - 2 * result.trace
        return FrechetDistance(value: meanTerm + covarianceTerm, meanTerm: meanTerm, covarianceTerm: covarianceTerm,
                               traceSqrtProduct: result.trace, route: result.route, offsetApplied: offsetApplied,
                               negativeEigenvalues: result.negatives, mostNegativeEigenvalue: result.mostNegative)
    }

    /// tr(sqrtm(S1·S2)) for symmetric positive semi-definite n×n matrices (row- or column-major: they are symmetric).
    /// `singular1` / `singular2`: known to be singular (fewer samples than dimensions).
    static func traceSqrtProduct(_ s1: [Double], _ s2: [Double], n: Int, route: Route, singular1: Bool = false,
                                 singular2: Bool = false)
        throws -> (trace: Double, route: Route, negatives: Int, mostNegative: Double) {
        // A zero variance (a feature constant over the set) rules a Cholesky factorisation out at once.
        let want1 = route != .eigen && !singular1 && LinearAlgebra.positiveDiagonal(s1, n: n)
        let want2 = route != .eigen && !singular2 && LinearAlgebra.positiveDiagonal(s2, n: n)
        let l1 = want1 ? LinearAlgebra.withOpenBLASThreads(LinearAlgebra.splitsWork ? 1 : openblas_get_num_threads()) {
            LinearAlgebra.cholesky(s1, n: n)
        } : nil
        var l2: [Double]? = nil
        if let f1 = l1, want2 {
            // S1 positive definite: eigenvalues of L1ᵀ·S2·L1. S2's own Cholesky factorisation only tells whether S2
            // is positive definite too (if not, these eigenvalues are dropped for the factor route below); it runs
            // on the other core during the eigen-solve's serial stage rather than before it.
            let (lambda, second) = try LinearAlgebra.congruenceEigenvalues(s2, lower: f1, n: n) {
                LinearAlgebra.cholesky(s2, n: n)
            }
            l2 = second
            if l2 != nil {
                var trace = 0.0, negatives = 0, mostNegative = 0.0
                let noise = Double(n) * Double.ulpOfOne * max(lambda.last ?? 0, 0)
                // Ascending order: add the small roots first.
                for v in lambda {
                    if v > 0 { trace += v.squareRoot() } else if v < -noise { negatives += 1; mostNegative = min(mostNegative, v) }
                }
                return (trace, .cholesky, negatives, mostNegative)
            }
        } else if want2 && route != .cholesky {
            l2 = LinearAlgebra.cholesky(s2, n: n)   // for the factor route
        }
        if route == .cholesky { throw MetricsError.invalidArgument("a covariance is not positive definite (dpotrf failed)") }
        /// A factor B with S = B·Bᵀ: n×k column-major, k, and the eigenvalues below minus the rounding level.
        func factor(_ s: [Double], cholesky: [Double]?) throws -> (b: [Double], k: Int, negatives: [Double]) {
            if var l = cholesky {
                LinearAlgebra.zeroStrictUpper(&l, n: n)   // dpotrf leaves the upper triangle as it was
                return (l, n, [])
            }
            let (w, v) = try LinearAlgebra.symmetricEigen(s, n: n, vectors: true)
            let cut = Double(n) * Double.ulpOfOne * max(w.last ?? 0, 0)
            var b: [Double] = []
            var k = 0
            var negatives: [Double] = []
            for (i, wi) in w.enumerated() {
                if wi > cut {
                    let r = wi.squareRoot()
                    b += v![(i * n)..<((i + 1) * n)].map { $0 * r }
                    k += 1
                } else if wi < -cut {
                    negatives.append(wi)
                }
            }
            return (b, k, negatives)
        }
        // The eigen-solves (dsyevd with vectors: its tridiagonal reduction is thousands of level-2 calls) run with
        // one OpenBLAS thread each, side by side when there are two covariances to solve and two threads: split
        // between OpenBLAS's threads, every small call waits for both, and the waiting threads spin on
        // sched_yield, so a core taken by another process stalled the pair (60+ s for two 2048x2048 solves on a
        // loaded 2-core machine, against a few seconds alone).
        let threads = openblas_get_num_threads()
        let (f1, f2) = try LinearAlgebra.withOpenBLASThreads(1) {
            if threads >= 2 && l1 == nil && l2 == nil {
                let (r1, r2) = LinearAlgebra.concurrentPair { i in Result { try factor(i == 0 ? s1 : s2, cholesky: nil) } }
                return (try r1.get(), try r2.get())
            }
            return (try factor(s1, cholesky: l1), try factor(s2, cholesky: l2))
        }
        let (b1, k1) = (f1.b, f1.k), (b2, k2) = (f2.b, f2.k)
        let negatives = f1.negatives.count + f2.negatives.count
        let mostNegative = (f1.negatives + f2.negatives).min().map { min($0, 0) } ?? 0
        let p = LinearAlgebra.transposeProduct(b1, b2, n: n, p: k1, q: k2)
        let sigma = try LinearAlgebra.singularValues(p, rows: k1, cols: k2)
        // Descending order: add the small ones first.
        let trace = sigma.reversed().reduce(0, +)
        return (trace, .eigen, negatives, mostNegative)
    }
}

extension GaussianStatistics {
    /// Reads two statistics files at once, on two threads, when OpenBLAS's thread count (vqrt's `--threads`)
    /// allows two: reading a pytorch-fid file is mostly zlib inflating its 32 MB sigma (np.savez_compressed), serial
    /// step per file. Each result is what `read(path:)` returns or throws.
    public static func read(paths a: String, _ b: String)
        -> (Result<GaussianStatistics, any Error>, Result<GaussianStatistics, any Error>) {
        guard openblas_get_num_threads() >= 2 else {
            return (Result { try read(path: a) }, Result { try read(path: b) })
        }
        return LinearAlgebra.concurrentPair { i in Result { try read(path: i == 0 ? a : b) } }
    }
}
