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
    /// (ilaenv2stage) is 32; a little wider is faster for the whole solve at n = 2048: stage 1's dsymm packs the
    /// trailing matrix once per panel, so wider panels amortise it, while the bulge chasing grows with the width.
    /// (tools/bench's FID rows show the effect of changing it.)
    static let bandWidth = 48

    /// Runs `body` with OpenBLAS limited to `threads` threads, then restores the previous count. OpenBLAS's thread
    /// count is process-wide: only call this while no other thread is inside OpenBLAS (vqrt makes no BLAS calls
    /// outside this module, whose calls from two threads at once all happen inside such a body).
    static func withOpenBLASThreads<T>(_ threads: Int32, _ body: () throws -> T) rethrows -> T {
        let saved = openblas_get_num_threads()
        if saved == threads { return try body() }
        openblas_set_num_threads(threads)
        defer { openblas_set_num_threads(saved) }
        return try body()
    }

    /// Eigenvalues (ascending) of the symmetric matrix whose LOWER triangle `m` holds (column-major, n×n; the upper
    /// triangle is not read); `m` is overwritten. Two-stage reduction called stage by stage (LAPACK dsytrd_sy2sb,
    /// dsytrd_sb2st, then dsterf) rather than through dsyevd_2stage, for three reasons: the lower triangle's panels
    /// are contiguous columns (QR, not row-wise LQ, which stage 1 does more slowly with 'U'); the band width is
    /// ours (`bandWidth`); and the bulge chasing and dsterf, which are serial, run with OpenBLAS on one thread:
    /// with more, every one of their thousands of tiny dsymv calls wakes the thread pool and the idle workers
    /// spin, which slows that stage down instead of speeding it up.
    /// Stage 1 is LAPACK's with OpenBLAS's current thread count, or with `split` our own transcription of it
    /// (`bandReduceLowerSplit`). `alongside` runs on a second thread during the serial stage 2 (one core's work)
    /// when `parallel`, after it otherwise, with one OpenBLAS thread; its result is returned. Falls back to
    /// dsyevd_2stage / dsyevd where the stage routines are not exported.
    static func symmetricEigenvaluesLower<S>(_ m: inout [Double], n: Int, split: Bool, parallel: Bool,
                                             alongside: () -> S) throws -> ([Double], S) {
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
        // Stage 1: full → band (level-3 BLAS).
        if split {
            try m.withUnsafeMutableBufferPointer { mp in
                try ab.withUnsafeMutableBufferPointer { bp in
                    guard let a = mp.baseAddress, let b = bp.baseAddress else { return }
                    try bandReduceLowerSplit(a, n: n, kd: bandWidth, ab: b, ldab: bandWidth + 1)
                }
            }
        } else {
            try withUnsafePointer(to: lower) { up in
                stages.sy2sb(up, &nn, &kd, &m, &nn, &ab, &ldab, &tau, &query, &lwork, &info, 1)
                guard info == 0 else { throw MetricsError.lapack("dsytrd_sy2sb: workspace query failed (\(info))") }
                lwork = Int32(max(1, query.rounded(.up)))
                var work = [Double](repeating: 0, count: Int(lwork))
                stages.sy2sb(up, &nn, &kd, &m, &nn, &ab, &ldab, &tau, &work, &lwork, &info, 1)
                guard info == 0 else { throw MetricsError.lapack("dsytrd_sy2sb: bad argument \(-info)") }
            }
        }
        // Stage 2 and the tridiagonal QR: serial code, one OpenBLAS thread; `alongside` on the other core.
        if !parallel {
            let values = try withOpenBLASThreads(1) { try bandEigenvalues(&ab, n: n, stages: stages) }
            return (values, withOpenBLASThreads(1) { alongside() })
        }
        let (first, second) = withOpenBLASThreads(1) {
            concurrentPair { i -> SerialStageOutcome<S> in
                i == 0 ? .values(Result { try bandEigenvalues(&ab, n: n, stages: stages) }) : .side(alongside())
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

    /// LAPACK's dsytrd_sy2sb (3.11) for the lower triangle, transcribed: the column-major n×n matrix `a` (lower
    /// triangle) is reduced by orthogonal similarity to a band of width `kd`, written in lower band storage to `ab`
    /// (ab[r + j·ldab] = A[j + r, j], r ≤ kd), as sb2st expects. For each panel of kd columns: QR of the part below
    /// the band (dgeqrf), T of its reflectors (dlarft), S2 = V·T, W = A22·S2, W -= ½·V·(S2ᵀ·W), then
    /// A22 -= V·Wᵀ + W·Vᵀ. The same operations as LAPACK's, except that the two large ones (W = A22·S2, 2·m²·kd
    /// operations, and the rank-2kd update, as many) are each split into two halves of equal work on two threads
    /// (one OpenBLAS thread each; see `congruenceEigenvalues` for why not OpenBLAS's own threads).
    static func bandReduceLowerSplit(_ a: UnsafeMutablePointer<Double>, n: Int, kd: Int,
                                     ab: UnsafeMutablePointer<Double>, ldab: Int) throws {
        precondition(kd >= 1 && ldab >= kd + 1)
        var t = [Double](repeating: 0, count: kd * kd)       // upper triangular; the lower part stays zero
        var s1 = [Double](repeating: 0, count: kd * kd)
        var s2 = [Double](repeating: 0, count: n * kd), w = [Double](repeating: 0, count: n * kd)
        var tau = [Double](repeating: 0, count: n)
        var query = 0.0
        if n > kd {
            let info = LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, Int32(n - kd), Int32(kd), a, Int32(n), &tau, &query, -1)
            guard info == 0 else { throw MetricsError.lapack("dgeqrf: workspace query failed (\(info))") }
        }
        var work = [Double](repeating: 0, count: max(1, Int(query.rounded(.up))))
        /// Columns j..<j+count of the band: A[j..<j+lk, j] → ab[0..<lk, j].
        func copyBand(_ columns: Range<Int>) {
            for j in columns { (ab + j * ldab).update(from: a + j + j * n, count: min(kd, n - 1 - j) + 1) }
        }
        try t.withUnsafeMutableBufferPointer { tp in
            try s1.withUnsafeMutableBufferPointer { s1p in
                try s2.withUnsafeMutableBufferPointer { s2p in
                    try w.withUnsafeMutableBufferPointer { wp in
                      try tau.withUnsafeMutableBufferPointer { taup in
                        guard let t = tp.baseAddress, let s1 = s1p.baseAddress, let s2 = s2p.baseAddress,
                              let w = wp.baseAddress, let tau = taup.baseAddress else { return }
                        var i = 0
                        while i < n - kd {
                            let pn = n - i - kd, pk = min(pn, kd)
                            let v = a + (i + kd) + i * n, a22 = a + (i + kd) + (i + kd) * n
                            let info = LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, Int32(pn), Int32(kd), v, Int32(n), tau + i,
                                                           &work, Int32(work.count))
                            guard info == 0 else { throw MetricsError.lapack("dgeqrf: bad argument \(-info)") }
                            copyBand(i..<(i + pk))
                            // V: the reflectors with their unit diagonal and zeros above it (R went to the band).
                            for c in 0..<pk {
                                for r in 0..<c { v[r + c * n] = 0 }
                                v[c + c * n] = 1
                            }
                            _ = LAPACKE_dlarft_work(LAPACK_COL_MAJOR, char("F"), char("C"), Int32(pn), Int32(pk), v,
                                                    Int32(n), tau + i, t, Int32(kd))
                            cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, blasint(pn), blasint(pk), blasint(pk),
                                        1, v, blasint(n), t, blasint(kd), 0, s2, blasint(n))
                            let ops = PanelOperands(a22: a22, v: v, s2: s2, w: w, n: n, m: pn, k: pk)
                            halves(pn >= 256) { ops.symmetricProduct(half: $0, split: pn >= 256) }
                            cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, blasint(pk), blasint(pk), blasint(pn), 1,
                                        s2, blasint(n), w, blasint(n), 0, s1, blasint(kd))
                            cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, blasint(pn), blasint(pk), blasint(pk),
                                        -0.5, v, blasint(n), s1, blasint(kd), 1, w, blasint(n))
                            halves(pn >= 256) { ops.rank2kUpdate(half: $0, split: pn >= 256) }
                            i += kd
                        }
                        copyBand(max(0, n - kd)..<n)
                      }
                    }
                }
            }
        }
    }

    /// One panel's large operations in `bandReduceLowerSplit`, in two halves. A22 is m×m (lower triangle), V, S2
    /// and W are m×k, all with leading dimension n.
    private struct PanelOperands: @unchecked Sendable {
        let a22: UnsafeMutablePointer<Double>
        let v: UnsafePointer<Double>
        let s2: UnsafePointer<Double>
        let w: UnsafeMutablePointer<Double>
        let n: Int, m: Int, k: Int

        /// W := A22·S2. Halves by rows at q = m/2, A22 = [B11 B21ᵀ; B21 B22]: W[..<q] = B11·S2[..<q] + B21ᵀ·S2[q...]
        /// and W[q...] = B21·S2[..<q] + B22·S2[q...] (equal work).
        func symmetricProduct(half: Int, split: Bool) {
            let ld = blasint(n), kk = blasint(k)
            if !split {
                if half == 0 {
                    cblas_dsymm(CblasColMajor, CblasLeft, CblasLower, blasint(m), kk, 1, a22, ld, s2, ld, 0, w, ld)
                }
                return
            }
            let q = m / 2, rest = m - q
            if half == 0 {
                cblas_dsymm(CblasColMajor, CblasLeft, CblasLower, blasint(q), kk, 1, a22, ld, s2, ld, 0, w, ld)
                cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, blasint(q), kk, blasint(rest), 1, a22 + q, ld,
                            s2 + q, ld, 1, w, ld)
            } else {
                cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, blasint(rest), kk, blasint(q), 1, a22 + q, ld,
                            s2, ld, 0, w + q, ld)
                cblas_dsymm(CblasColMajor, CblasLeft, CblasLower, blasint(rest), kk, 1, a22 + q + q * n, ld, s2 + q, ld,
                            1, w + q, ld)
            }
        }

        /// A22 -= V·Wᵀ + W·Vᵀ (lower triangle). Halves at r = m·(1 - 1/√2): [C11; C21] (a rank-2k update of r×r
        /// and two products of (m-r)×r) and C22 (a rank-2k update of (m-r)×(m-r)), equal work.
        func rank2kUpdate(half: Int, split: Bool) {
            let ld = blasint(n), kk = blasint(k)
            if !split {
                if half == 0 {
                    cblas_dsyr2k(CblasColMajor, CblasLower, CblasNoTrans, blasint(m), kk, -1, v, ld, w, ld, 1, a22, ld)
                }
                return
            }
            let r = Int(Double(m) * (1 - 0.5.squareRoot())), rest = m - r
            if half == 0 {
                cblas_dsyr2k(CblasColMajor, CblasLower, CblasNoTrans, blasint(r), kk, -1, v, ld, w, ld, 1, a22, ld)
                cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, blasint(rest), blasint(r), kk, -1, v + r, ld, w, ld,
                            1, a22 + r, ld)
                cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, blasint(rest), blasint(r), kk, -1, w + r, ld, v, ld,
                            1, a22 + r, ld)
            } else {
                cblas_dsyr2k(CblasColMajor, CblasLower, CblasNoTrans, blasint(rest), kk, -1, v + r, ld, w + r, ld, 1,
                             a22 + r + r * n, ld)
            }
        }
    }

    /// Eigenvalues (ascending) of the band matrix from dsytrd_sy2sb (lower, band width `bandWidth`): dsytrd_sb2st
    /// (bulge chasing to tridiagonal), then dsterf.
    private static func bandEigenvalues(_ ab: inout [Double], n: Int, stages: TwoStage.Routines) throws -> [Double] {
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
    /// M than its lower triangle: W = S2·L1 (n³ operations: L1 is triangular), then M's block column j of the lower
    /// triangle is L1[j:, j:]ᵀ·W[j:, block j] (dtrmm in place; n³/3 in all rather than the n³ of a second full
    /// product). 4n³/3 instead of the 2n³ of L1ᵀ·(S2·L1) in full, and M comes out exactly symmetric (nothing to
    /// symmetrise). `l1`: the lower factor from `cholesky` (only its lower triangle is read). `alongside` runs
    /// during the eigen-solve's serial stage (`symmetricEigenvaluesLower`).
    ///
    /// Threads: with OpenBLAS at two threads (vqrt's default on two cores), the products are split into two
    /// independent halves of equal work, each an OpenBLAS call on one thread, run on two threads of our own, and
    /// so is the band reduction (`bandReduceLowerSplit`). OpenBLAS's own threads synchronise by spinning
    /// (sched_yield) inside every call, so as soon as a third process is runnable its level-3 routines slow down
    /// by up to an order of magnitude (spinning workers lose whole time slices to the other process), where two
    /// independent halves merely share the cores. Other thread counts: OpenBLAS's own threads and LAPACK's dsytrd_sy2sb.
    static func congruenceEigenvalues<S>(_ s2: [Double], lower l1: [Double], n: Int,
                                         alongside: () -> S) throws -> ([Double], S) {
        precondition(s2.count == n * n && l1.count == n * n)
        _ = OpenBLASKernels.ensured
        let threads = openblas_get_num_threads(), split = splitsWork
        // W's columns c0..<c1 cost n·(n - c0)² - n·(n - c1)² (rows below the diagonal of L1); half of the total
        // is reached at n·(1 - 1/√2).
        let p = split ? Int(Double(n) * (1 - 0.5.squareRoot())) : n
        // M's block columns (width nb) cost (n - j)²·nb: dealt to the two halves largest first, each to the
        // lighter one.
        let nb = 128
        var blocks: [[Int]] = [[], []], load = [0, 0]
        for j in stride(from: 0, to: n, by: nb) {
            let h = split && load[1] < load[0] ? 1 : 0
            blocks[h].append(j)
            load[h] += (n - j) * (n - j)
        }
        // W starts as a copy of S2, each half copying the columns it will own.
        var work = [Double](unsafeUninitializedCapacity: n * n) { buffer, count in
            s2.withUnsafeBufferPointer { sp in
                guard let w = buffer.baseAddress, let s = sp.baseAddress else { return }
                let columns = ColumnCopy(to: w, from: s, n: n)
                halves(split) { h in columns.copy(h == 0 ? 0..<p : p..<n) }
            }
            count = n * n
        }
        work.withUnsafeMutableBufferPointer { wp in
            s2.withUnsafeBufferPointer { sp in
                l1.withUnsafeBufferPointer { lp in
                    guard let w = wp.baseAddress, let s = sp.baseAddress, let l = lp.baseAddress else { return }
                    let m = Operands(w: w, s: s, l: l, n: n)
                    withOpenBLASThreads(split ? 1 : threads) {
                        halves(split) { h in m.product(columns: h == 0 ? 0..<p : p..<n) }
                        halves(split) { h in for j in blocks[h] { m.congruenceBlock(column: j, width: min(nb, n - j)) } }
                    }
                }
            }
        }
        return try withOpenBLASThreads(split ? 1 : threads) {
            try symmetricEigenvaluesLower(&work, n: n, split: split, parallel: threads >= 2, alongside: alongside)
        }
    }

    /// Whether the FID's level-3 work is split into two halves on our own threads, each with one OpenBLAS thread
    /// (OpenBLAS at two threads, vqrt's default on two cores; see `congruenceEigenvalues`).
    static var splitsWork: Bool { openblas_get_num_threads() == 2 }

    /// Column ranges of an n×n column-major matrix copied from one buffer to another.
    private struct ColumnCopy: @unchecked Sendable {
        let to: UnsafeMutablePointer<Double>
        let from: UnsafePointer<Double>
        let n: Int
        func copy(_ columns: Range<Int>) {
            (to + columns.lowerBound * n).update(from: from + columns.lowerBound * n, count: columns.count * n)
        }
    }

    /// `body(0)` and `body(1)`, at once on two threads when `parallel`.
    private static func halves(_ parallel: Bool, _ body: (Int) -> Void) {
        if parallel { _ = concurrentPair(body) } else { body(0); body(1) }
    }

    /// The buffers of `congruenceEigenvalues`, shared by its two halves (each writes its own columns of W).
    private struct Operands: @unchecked Sendable {
        let w: UnsafeMutablePointer<Double>
        let s: UnsafePointer<Double>
        let l: UnsafePointer<Double>
        let n: Int

        /// W[:, c] := S2·L1[:, c] for the columns c in `columns`, W holding S2's columns: L1[:, c] is zero above
        /// row c, so the block is S2[:, cols]·L1[cols, cols] (dtrmm in place) + S2[:, after]·L1[after, cols] (dgemm).
        func product(columns: Range<Int>) {
            guard !columns.isEmpty else { return }
            let c0 = columns.lowerBound, k = columns.count, after = columns.upperBound, rest = n - after
            cblas_dtrmm(CblasColMajor, CblasRight, CblasLower, CblasNoTrans, CblasNonUnit, blasint(n), blasint(k), 1,
                        l + c0 + c0 * n, blasint(n), w + c0 * n, blasint(n))
            if rest > 0 {
                cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, blasint(n), blasint(k), blasint(rest), 1,
                            s + after * n, blasint(n), l + after + c0 * n, blasint(n), 1, w + c0 * n, blasint(n))
            }
        }

        /// Rows j..<n of M's block column j (width `width`) in place of W's: M[i, c] = Σ_{k ≥ i} L1[k, i]·W[k, c],
        /// so they are L1[j:, j:]ᵀ·W[j:, block] and need no other block column of W; the rows above are the
        /// upper triangle.
        func congruenceBlock(column j: Int, width: Int) {
            cblas_dtrmm(CblasColMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit, blasint(n - j), blasint(width), 1,
                        l + j + j * n, blasint(n), w + j + j * n, blasint(n))
        }
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
