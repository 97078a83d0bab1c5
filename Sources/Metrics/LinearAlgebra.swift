// Symmetric dense linear algebra in float64 through OpenBLAS (cblas) and LAPACK. Matrices are n×n, stored
// column-major; the symmetric ones are passed full, so row- and column-major are the same thing.
import CLAPACK
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

enum LinearAlgebra {
    @inline(__always) static func char(_ c: Character) -> CChar { CChar(c.asciiValue!) }

    // MARK: eigenvalues of the FID's congruence

    /// Band width of the first stage of the eigenvalue reduction (full → band → tridiagonal). LAPACK's own choice
    /// (ilaenv2stage) is 32; 48 measured ~6% faster for the whole solve at n = 2048 (stage 1's dsymm packs the
    /// trailing matrix once per panel, so wider panels amortise it, while the bulge chasing grows with the width).
    static let bandWidth = 48

    /// Runs `body` with OpenBLAS limited to `threads` threads, then restores the previous count. OpenBLAS's thread
    /// count is process-wide: only call this while no other thread is inside OpenBLAS (vqrt makes no BLAS calls
    /// outside this module, and the FID runs on one thread).
    static func withOpenBLASThreads<T>(_ threads: Int32, _ body: () throws -> T) rethrows -> T {
        let saved = openblas_get_num_threads()
        if saved == threads { return try body() }
        openblas_set_num_threads(threads)
        defer { openblas_set_num_threads(saved) }
        return try body()
    }

    /// Eigenvalues (ascending) of the symmetric matrix whose LOWER triangle `m` holds (column-major, n×n; the upper
    /// triangle is not read); `m` is overwritten. Two-stage reduction called stage by stage (LAPACK dsytrd_sy2sb,
    /// dsytrd_sb2st, then dsterf) rather than through dsyevd_2stage, for three measured reasons (n = 2048, this
    /// 2-core machine): the lower triangle's panels are contiguous columns (QR, not row-wise LQ: stage 1 ~25%
    /// faster than 'U'); the band width is ours (`bandWidth`); and the bulge chasing and dsterf, which are serial,
    /// run with OpenBLAS on one thread: with more, every one of their thousands of tiny dsymv calls wakes the
    /// thread pool and the idle workers spin, which made that stage ~2× slower (0.27 s instead of 0.14 s).
    /// `alongside` runs on a second thread during that serial stage (0.2 s of one core), with one OpenBLAS thread
    /// (after it when OpenBLAS is limited to one thread); its result is returned. Falls back to dsyevd_2stage / dsyevd where the stage routines are not exported.
    static func symmetricEigenvaluesLower<S>(_ m: inout [Double], n: Int, alongside: () -> S) throws -> ([Double], S) {
        precondition(m.count == n * n)
        _ = OpenBLASKernels.ensured
        guard n > bandWidth + 1, let stages = TwoStage.routines else {
            let side = alongside()
            if n == 0 { return ([], side) }
            if let w = try? run(m, n: n, vectors: false, twoStage: true, uplo: "L") { return (w.values, side) }
            return (try run(m, n: n, vectors: false, twoStage: false, uplo: "L").values, side)
        }
        var nn = Int32(n), kd = Int32(bandWidth), ldab = Int32(bandWidth + 1), info: Int32 = 0
        var ab = [Double](repeating: 0, count: (bandWidth + 1) * n)
        var tau = [Double](repeating: 0, count: n)
        var query = 0.0, lwork: Int32 = -1
        let lower: CChar = char("L")
        // Stage 1: full → band (level-3 BLAS: OpenBLAS's threads help).
        try withUnsafePointer(to: lower) { up in
            stages.sy2sb(up, &nn, &kd, &m, &nn, &ab, &ldab, &tau, &query, &lwork, &info, 1)
            guard info == 0 else { throw MetricsError.lapack("dsytrd_sy2sb: workspace query failed (\(info))") }
            lwork = Int32(max(1, query.rounded(.up)))
            var work = [Double](repeating: 0, count: Int(lwork))
            stages.sy2sb(up, &nn, &kd, &m, &nn, &ab, &ldab, &tau, &work, &lwork, &info, 1)
            guard info == 0 else { throw MetricsError.lapack("dsytrd_sy2sb: bad argument \(-info)") }
        }
        // Stage 2 and the tridiagonal QR: serial code, one OpenBLAS thread; `alongside` on the other core (if the
        // thread count allows two).
        let band = ab
        if openblas_get_num_threads() < 2 {
            return (try bandEigenvalues(band, n: n, stages: stages), alongside())
        }
        let (first, second) = withOpenBLASThreads(1) {
            concurrentPair { i -> SerialStageOutcome<S> in
                i == 0 ? .values(Result { try bandEigenvalues(band, n: n, stages: stages) }) : .side(alongside())
            }
        }
        guard case .values(let values) = first, case .side(let side) = second else {
            preconditionFailure("concurrentPair: results out of order")
        }
        return (try values.get(), side)
    }

    private enum SerialStageOutcome<S> {
        case values(Result<[Double], any Error>)
        case side(S)
    }

    /// Eigenvalues (ascending) of the band matrix from dsytrd_sy2sb (lower, band width `bandWidth`): dsytrd_sb2st
    /// (bulge chasing to tridiagonal), then dsterf.
    private static func bandEigenvalues(_ band: [Double], n: Int, stages: TwoStage.Routines) throws -> [Double] {
        var ab = band
        var nn = Int32(n), kd = Int32(bandWidth), ldab = Int32(bandWidth + 1), info: Int32 = 0
        var d = [Double](repeating: 0, count: n), e = [Double](repeating: 0, count: n)
        var query = 0.0, query2 = 0.0, lwork: Int32 = -1, lhous: Int32 = -1
        let lower: CChar = char("L"), yes: CChar = char("Y"), no: CChar = char("N")
        try withUnsafePointer(to: yes) { yp in
            try withUnsafePointer(to: no) { np in
                try withUnsafePointer(to: lower) { up in
                    stages.sb2st(yp, np, up, &nn, &kd, &ab, &ldab, &d, &e, &query, &lhous, &query2, &lwork, &info, 1, 1, 1)
                    guard info == 0 else { throw MetricsError.lapack("dsytrd_sb2st: workspace query failed (\(info))") }
                    lhous = Int32(max(1, query.rounded(.up)))
                    lwork = Int32(max(1, query2.rounded(.up)))
                    var hous = [Double](repeating: 0, count: Int(lhous))
                    var work = [Double](repeating: 0, count: Int(lwork))
                    stages.sb2st(yp, np, up, &nn, &kd, &ab, &ldab, &d, &e, &hous, &lhous, &work, &lwork, &info, 1, 1, 1)
                    guard info == 0 else { throw MetricsError.lapack("dsytrd_sb2st: bad argument \(-info)") }
                }
            }
        }
        info = LAPACKE_dsterf_work(nn, &d, &e)
        guard info == 0 else {
            throw MetricsError.lapack(info < 0 ? "dsterf: bad argument \(-info)" : "dsterf did not converge (\(info) off-diagonal elements)")
        }
        return d
    }

    /// LAPACK's two stages of the symmetric tridiagonal reduction (LAPACK >= 3.7; not declared by lapack.h 3.11,
    /// so looked up by name). Fortran calling convention: everything by reference, then the hidden lengths of the
    /// character arguments.
    enum TwoStage {
        typealias SY2SB = @convention(c) (
            UnsafePointer<CChar>, UnsafePointer<Int32>, UnsafePointer<Int32>, UnsafeMutablePointer<Double>,
            UnsafePointer<Int32>, UnsafeMutablePointer<Double>, UnsafePointer<Int32>, UnsafeMutablePointer<Double>,
            UnsafeMutablePointer<Double>, UnsafePointer<Int32>, UnsafeMutablePointer<Int32>, Int) -> Void
        typealias SB2ST = @convention(c) (
            UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafePointer<Int32>, UnsafePointer<Int32>,
            UnsafeMutablePointer<Double>, UnsafePointer<Int32>, UnsafeMutablePointer<Double>, UnsafeMutablePointer<Double>,
            UnsafeMutablePointer<Double>, UnsafePointer<Int32>, UnsafeMutablePointer<Double>, UnsafePointer<Int32>,
            UnsafeMutablePointer<Int32>, Int, Int, Int) -> Void
        struct Routines: @unchecked Sendable {
            let sy2sb: SY2SB
            let sb2st: SB2ST
        }
        static let routines: Routines? = {
            let handle = dlopen(nil, RTLD_NOW)
            guard let a = dlsym(handle, "dsytrd_sy2sb_"), let b = dlsym(handle, "dsytrd_sb2st_") else { return nil }
            return Routines(sy2sb: unsafeBitCast(a, to: SY2SB.self), sb2st: unsafeBitCast(b, to: SB2ST.self))
        }()
    }

    /// Eigenvalues (ascending) of M = L1ᵀ·S2·L1, which is similar to S1·S2 (S1 = L1·L1ᵀ), without forming more of
    /// M than its lower triangle: W = S2·L1 is one triangular multiplication (dtrmm, n³ operations), and M's block
    /// column j of the lower triangle is L1[j:, j:]ᵀ·W[j:, block j], again dtrmm, in place (n³/3 in all rather than
    /// the n³ of a second full product). 4n³/3 instead of the 2n³ of L1ᵀ·(S2·L1) in full, and M comes out exactly
    /// symmetric (nothing to symmetrise). `l1`: the lower factor from `cholesky` (dtrmm reads only its lower
    /// triangle). `alongside` runs during the eigen-solve's serial stage (see `symmetricEigenvaluesLower`).
    static func congruenceEigenvalues<S>(_ s2: [Double], lower l1: [Double], n: Int,
                                         alongside: () -> S) throws -> ([Double], S) {
        precondition(s2.count == n * n && l1.count == n * n)
        _ = OpenBLASKernels.ensured
        let nb = 256
        var work = [Double](unsafeUninitializedCapacity: n * n) { buffer, count in
            s2.withUnsafeBufferPointer { if let from = $0.baseAddress { buffer.baseAddress?.update(from: from, count: n * n) } }
            count = n * n
        }
        work.withUnsafeMutableBufferPointer { wp in
            l1.withUnsafeBufferPointer { lp in
                guard let w = wp.baseAddress, let l = lp.baseAddress else { return }
                // W := S2·L1.
                cblas_dtrmm(CblasColMajor, CblasRight, CblasLower, CblasNoTrans, CblasNonUnit, blasint(n), blasint(n),
                            1, l, blasint(n), w, blasint(n))
                // Lower triangle of M = L1ᵀ·W, block column by block column: M[i, c] = Σ_{k ≥ i} L1[k, i]·W[k, c],
                // so rows j..<n of block column j are L1[j:, j:]ᵀ·W[j:, j..<j+nb], computed over W's own rows
                // (no later block column needs them); the rows above block j are the upper triangle.
                var j = 0
                while j < n {
                    let cols = min(nb, n - j), rows = n - j
                    cblas_dtrmm(CblasColMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit, blasint(rows),
                                blasint(cols), 1, l + j + j * n, blasint(n), w + j + j * n, blasint(n))
                    j += nb
                }
            }
        }
        return try symmetricEigenvaluesLower(&work, n: n, alongside: alongside)
    }

    /// Whether every diagonal entry is positive (else the matrix is not positive definite).
    static func positiveDiagonal(_ s: [Double], n: Int) -> Bool {
        for i in 0..<n where !(s[i * n + i] > 0) { return false }
        return true
    }

    /// Sets the strict upper triangle of a column-major n×n matrix to zero (dpotrf leaves it as it was).
    static func zeroStrictUpper(_ l: inout [Double], n: Int) {
        l.withUnsafeMutableBufferPointer { p in
            guard let base = p.baseAddress else { return }
            for j in 1..<max(1, n) { (base + j * n).update(repeating: 0, count: j) }
        }
    }

    /// `body(0)` and `body(1)` run at once on two threads (Dispatch); both results.
    static func concurrentPair<T>(_ body: (Int) -> T) -> (T, T) {
        let slots = PairSlots<T>()
        DispatchQueue.concurrentPerform(iterations: 2) { i in slots.set(i, body(i)) }
        return slots.get()
    }

    /// Two results, each slot written by one thread, read after both finished.
    private final class PairSlots<T>: @unchecked Sendable {
        private var first: T?, second: T?
        func set(_ i: Int, _ value: T) { if i == 0 { first = value } else { second = value } }
        func get() -> (T, T) {
            guard let first, let second else { preconditionFailure("concurrentPair: a slot was not written") }
            return (first, second)
        }
    }

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

    private static func run(_ a: [Double], n: Int, vectors: Bool, twoStage: Bool, uplo: Character = "U") throws -> (values: [Double], vectors: [Double]?) {
        var m = a
        var w = [Double](repeating: 0, count: n)
        let info = m.withUnsafeMutableBufferPointer { mp in
            w.withUnsafeMutableBufferPointer { wp in
                twoStage
                    ? LAPACKE_dsyevd_2stage(LAPACK_COL_MAJOR, char("N"), char(uplo), Int32(n), mp.baseAddress, Int32(n),
                                            wp.baseAddress)
                    : LAPACKE_dsyevd(LAPACK_COL_MAJOR, char(vectors ? "V" : "N"), char(uplo), Int32(n),
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
        // A fresh copy, written in one pass.
        var l = [Double](unsafeUninitializedCapacity: s.count) { buffer, count in
            s.withUnsafeBufferPointer { if let from = $0.baseAddress { buffer.baseAddress?.update(from: from, count: s.count) } }
            count = s.count
        }
        let info = l.withUnsafeMutableBufferPointer {
            // The _work variant skips LAPACKE's NaN scan: the statistics were checked finite.
            LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, char("L"), Int32(n), $0.baseAddress, Int32(n))
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
