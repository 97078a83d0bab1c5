// Symmetric dense linear algebra in float64 through OpenBLAS (cblas) and LAPACKE. Matrices are n×n, stored
// column-major; the symmetric ones are passed full, so row- and column-major are the same thing.
import CLAPACK

enum LinearAlgebra {
    @inline(__always) static func char(_ c: Character) -> CChar { CChar(c.asciiValue!) }

    /// Eigenvalues in ascending order and, with `vectors`, the orthonormal eigenvectors as the columns of a
    /// column-major matrix (LAPACK dsyevd: divide and conquer). Eigenvalues alone come from the two-stage solver
    /// (dsyevd_2stage: reduction to band form with level-3 BLAS, then to tridiagonal form), several times faster
    /// than the one-stage reduction, whose half of level-2 (memory-bound) work dominates at n = 2048.
    static func symmetricEigen(_ a: [Double], n: Int, vectors: Bool) throws -> (values: [Double], vectors: [Double]?) {
        precondition(a.count == n * n)
        _ = OpenBLASKernels.ensured
        if !vectors, let w = try? run(a, n: n, vectors: false, twoStage: true) { return (w.values, nil) }
        return try run(a, n: n, vectors: vectors, twoStage: false)
    }

    private static func run(_ a: [Double], n: Int, vectors: Bool, twoStage: Bool) throws -> (values: [Double], vectors: [Double]?) {
        var m = a
        var w = [Double](repeating: 0, count: n)
        let info = m.withUnsafeMutableBufferPointer { mp in
            w.withUnsafeMutableBufferPointer { wp in
                twoStage
                    ? LAPACKE_dsyevd_2stage(LAPACK_COL_MAJOR, char("N"), char("U"), Int32(n), mp.baseAddress, Int32(n),
                                            wp.baseAddress)
                    : LAPACKE_dsyevd(LAPACK_COL_MAJOR, char(vectors ? "V" : "N"), char("U"), Int32(n),
                                     mp.baseAddress, Int32(n), wp.baseAddress)
            }
        }
        let name = twoStage ? "dsyevd_2stage" : "dsyevd"
        guard info == 0 else {
            throw MetricsError.lapack(info < 0 ? "\(name): bad argument \(-info)"
                                               : "\(name) did not converge (\(info) off-diagonal elements)")
        }
        return (w, vectors ? m : nil)
    }

    /// The lower Cholesky factor L (S = L·Lᵀ) in column-major order (the strict upper triangle holds leftovers and
    /// must not be read), or nil if S is not numerically positive definite (LAPACK dpotrf).
    static func cholesky(_ s: [Double], n: Int) -> [Double]? {
        _ = OpenBLASKernels.ensured
        var l = s
        let info = l.withUnsafeMutableBufferPointer {
            LAPACKE_dpotrf(LAPACK_COL_MAJOR, char("L"), Int32(n), $0.baseAddress, Int32(n))
        }
        return info == 0 ? l : nil
    }

    /// Singular values (descending) of a column-major rows×cols matrix (LAPACK dgesdd, no vectors).
    static func singularValues(_ a: [Double], rows: Int, cols: Int) throws -> [Double] {
        _ = OpenBLASKernels.ensured
        var m = a
        var s = [Double](repeating: 0, count: max(1, min(rows, cols)))
        var u = [Double](repeating: 0, count: 1), vt = [Double](repeating: 0, count: 1)
        if rows == 0 || cols == 0 { return [] }
        let info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, char("N"), Int32(rows), Int32(cols), &m, Int32(rows), &s, &u, 1, &vt, 1)
        guard info == 0 else {
            throw MetricsError.lapack(info < 0 ? "dgesdd: bad argument \(-info)" : "dgesdd did not converge")
        }
        return s
    }

    /// Aᵀ·B for column-major A (n×p) and B (n×q): p×q, column-major.
    static func transposeProduct(_ a: [Double], _ b: [Double], n: Int, p: Int, q: Int) -> [Double] {
        _ = OpenBLASKernels.ensured
        var c = [Double](repeating: 0, count: max(1, p * q))
        if p == 0 || q == 0 { return [] }
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, blasint(p), blasint(q), blasint(n), 1, a, blasint(n),
                    b, blasint(n), 0, &c, blasint(p))
        return c
    }

    /// M := (M + Mᵀ) / 2, removing the rounding asymmetry of products like Lᵀ·S·L before an eigen-solve.
    static func symmetrise(_ m: inout [Double], n: Int) {
        m.withUnsafeMutableBufferPointer { p in
            for j in 0..<n {
                for i in (j + 1)..<max(j + 1, n) {
                    let v = 0.5 * (p[i + j * n] + p[j + i * n])
                    p[i + j * n] = v
                    p[j + i * n] = v
                }
            }
        }
    }

    /// Lᵀ·S·L for lower-triangular L (two triangular multiplications, dtrmm).
    static func congruenceLower(_ s: [Double], by l: [Double], n: Int) -> [Double] {
        _ = OpenBLASKernels.ensured
        var t = s
        l.withUnsafeBufferPointer { lp in
            t.withUnsafeMutableBufferPointer { tp in
                // T := S·L, then T := Lᵀ·T.
                cblas_dtrmm(CblasColMajor, CblasRight, CblasLower, CblasNoTrans, CblasNonUnit, blasint(n), blasint(n),
                            1, lp.baseAddress, blasint(n), tp.baseAddress, blasint(n))
                cblas_dtrmm(CblasColMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit, blasint(n), blasint(n),
                            1, lp.baseAddress, blasint(n), tp.baseAddress, blasint(n))
            }
        }
        return t
    }

    /// Vᵀ·S·V for a square V (column-major) and symmetric S (dsymm then dgemm).
    static func congruence(_ s: [Double], by v: [Double], n: Int) -> [Double] {
        _ = OpenBLASKernels.ensured
        var t = [Double](repeating: 0, count: n * n)
        var c = [Double](repeating: 0, count: n * n)
        s.withUnsafeBufferPointer { sp in
            v.withUnsafeBufferPointer { vp in
                t.withUnsafeMutableBufferPointer { tp in
                    cblas_dsymm(CblasColMajor, CblasLeft, CblasUpper, blasint(n), blasint(n), 1, sp.baseAddress,
                                blasint(n), vp.baseAddress, blasint(n), 0, tp.baseAddress, blasint(n))
                    c.withUnsafeMutableBufferPointer { cp in
                        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, blasint(n), blasint(n), blasint(n), 1,
                                    vp.baseAddress, blasint(n), tp.baseAddress, blasint(n), 0, cp.baseAddress, blasint(n))
                    }
                }
            }
        }
        return c
    }
}
