// Fréchet distance between two Gaussians (pytorch-fid 0.3.0 `calculate_frechet_distance`, spec/metrics.md §5.2):
//   FID = |mu1 - mu2|² + tr(S1) + tr(S2) - 2·tr(sqrtm(S1·S2))
//
// tr(sqrtm(S1·S2)) is computed by the symmetric eigen route (§5.4): S1·S2 is similar to a symmetric positive
// semi-definite matrix M, so the trace is Σ sqrt(λ_i(M)):
// - Cholesky route (S1 = L·Lᵀ positive definite, the usual case with N > D samples): M = Lᵀ·S2·L;
// - eigen route (always applicable): S1 = V·diag(w)·Vᵀ, M = diag(√w₊)·(Vᵀ·S2·V)·diag(√w₊), w₊ = max(w, 0),
//   the same spectrum as A·S2·A with A = S1^½.
// M is symmetrised before LAPACK's dsyevd. Eigenvalues below n·ε·λ_max (of S1 in the eigen route, and of M) are
// numerically zero and contribute 0: with fewer samples than dimensions the covariances are singular, and the
// roots of ~2000 rounding-level eigenvalues (±1e-16·λ_max) would otherwise add up to ~1e-5 of the trace. With the
// cut-off the trace equals the exact low-rank computation (Σ σ(X1·X2ᵀ) / sqrt((N1-1)(N2-1)) from the centred
// features) to ~1e-11 (checked in Tests/MetricsTests), where scipy's sqrtm, which pytorch-fid uses, is off by
// ~1e-7 on the same data (and warns "Matrix is singular"). Full-rank covariances (N > 2048, the r-FID
// case) have no eigenvalue near the cut-off. Negative eigenvalues beyond the cut-off would make scipy's sqrtm
// complex (pytorch-fid keeps the real part, or raises "Imaginary component" when a diagonal imaginary part exceeds
// 1e-3); they are counted so callers can warn.
// pytorch-fid's guard: if the result is not finite (here: LAPACK failed to converge), both covariances get
// `eps` added to their diagonals and the computation is repeated.

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

        var offsetApplied = false
        var result: (trace: Double, route: Route, negatives: Int, mostNegative: Double)
        do {
            result = try traceSqrtProduct(a.sigma, b.sigma, n: d, route: route)
            if !result.trace.isFinite { throw MetricsError.notFinite("tr sqrtm") }
        } catch let e as MetricsError {
            if case .invalidArgument = e { throw e }
            // pytorch-fid: "fid calculation produces singular product; adding eps to diagonal of cov estimates".
            offsetApplied = true
            var s1 = a.sigma, s2 = b.sigma
            for i in 0..<d { s1[i * d + i] += eps; s2[i * d + i] += eps }
            result = try traceSqrtProduct(s1, s2, n: d, route: route)
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
    static func traceSqrtProduct(_ s1: [Double], _ s2: [Double], n: Int, route: Route)
        throws -> (trace: Double, route: Route, negatives: Int, mostNegative: Double) {
        var m: [Double]
        var taken = route
        if route != .eigen, let l = LinearAlgebra.cholesky(s1, n: n) {
            m = LinearAlgebra.congruenceLower(s2, by: l, n: n)
            taken = .cholesky
        } else {
            if route == .cholesky { throw MetricsError.invalidArgument("S1 is not positive definite (dpotrf failed)") }
            let (w, v) = try LinearAlgebra.symmetricEigen(s1, n: n, vectors: true)
            m = LinearAlgebra.congruence(s2, by: v!, n: n)
            let cut = Double(n) * Double.ulpOfOne * max(w.last ?? 0, 0)
            let r = w.map { $0 > cut ? $0.squareRoot() : 0 }
            for j in 0..<n { for i in 0..<n { m[i + j * n] *= r[i] * r[j] } }
            taken = .eigen
        }
        LinearAlgebra.symmetrise(&m, n: n)
        let (lambda, _) = try LinearAlgebra.symmetricEigen(m, n: n, vectors: false)
        var trace = 0.0, negatives = 0, mostNegative = 0.0
        let cut = Double(n) * Double.ulpOfOne * max(lambda.last ?? 0, 0)
        // Ascending order: add the small roots first.
        for v in lambda {
            if v > cut { trace += v.squareRoot() } else if v < -cut { negatives += 1; mostNegative = min(mostNegative, v) }
        }
        return (trace, taken, negatives, mostNegative)
    }
}
