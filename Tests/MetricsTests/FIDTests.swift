// FID against pytorch-fid 0.3.0 (numpy mean/cov, scipy sqrtm) on synthetic 2048-d feature sets larger and smaller
// than the dimension (Fixtures/metrics/fid.json, "fid-features v1" regenerated here from contract C4 draws).
import CLAPACK
import Foundation
import Metrics
import NPY
import Tensor
import XCTest

final class FIDTests: XCTestCase {
    static var cache: [String: GaussianStatistics] = [:]

    /// Statistics of a set, streamed in uneven batches through two shards that are then merged.
    func statistics(_ name: String, _ spec: [String: Any], seed: UInt64) throws -> GaussianStatistics {
        if let s = FIDTests.cache[name] { return s }
        let n = try XCTUnwrap(spec["n"] as? Int), shift = try XCTUnwrap(spec["shift"] as? Double)
        let f = fidFeatures(name, n: n, seed: seed, shift: shift)
        let d = 2048, half = n / 3
        var first = try FeatureStatistics(dimension: d), second = try FeatureStatistics(dimension: d)
        try f.withUnsafeBufferPointer { p in
            var start = 0, k = 0
            while start < n {
                let rows = min([97, 13, 250][k % 3], n - start)
                let part = UnsafeBufferPointer(rebasing: p[(start * d)..<((start + rows) * d)])
                if start < half { try first.add(part, rows: rows) } else { try second.add(part, rows: rows) }
                start += rows; k += 1
            }
        }
        try first.merge(second)
        XCTAssertEqual(first.count, n)
        let s = try first.statistics()
        // mu and sigma against numpy (sums recorded by the generator).
        assertRelativelyEqual(s.mu.reduce(0, +), try XCTUnwrap(spec["mu_sum"] as? Double), rel: 1e-12, name)
        var trace = 0.0
        for i in 0..<d { trace += s.sigma[i * d + i] }
        assertRelativelyEqual(trace, try XCTUnwrap(spec["sigma_trace"] as? Double), rel: 1e-12, name)
        assertRelativelyEqual(s.sigma.reduce(0, +), try XCTUnwrap(spec["sigma_sum"] as? Double), rel: 1e-10, name)
        FIDTests.cache[name] = s
        return s
    }

    func testFIDMatchesPytorchFID() throws {
        let fixture = try MetricsFixtures.json("fid.json")
        let seed = UInt64(try XCTUnwrap(fixture["seed"] as? Int))
        let sets = try XCTUnwrap(fixture["sets"] as? [String: [String: Any]])
        for pair in try XCTUnwrap(fixture["pairs"] as? [[String: Any]]) {
            let a = try XCTUnwrap(pair["a"] as? String), b = try XCTUnwrap(pair["b"] as? String)
            let expected = try XCTUnwrap(pair["fid"] as? Double)
            let sa = try statistics(a, try XCTUnwrap(sets[a]), seed: seed)
            let sb = try statistics(b, try XCTUnwrap(sets[b]), seed: seed)
            // Every pair by the automatic route; the eigen route (the fallback) on a full-rank and a singular pair.
            let routes: [FrechetDistance.Route] = (a == "A" && b == "B") || (a == "A" && b == "C") ? [.automatic, .eigen] : [.automatic]
            var values: [Double] = []
            for route in routes {
                let start = Date()
                let fid = try FrechetDistance.compute(sa, sb, route: route)
                let seconds = Date().timeIntervalSince(start)
                print("FID \(a)-\(b) \(fid.route.rawValue): \(fid.value) vs pytorch-fid \(expected), rel \(abs(fid.value - expected) / max(abs(expected), 1e-300)), \(String(format: "%.2f", seconds)) s, negative eigenvalues \(fid.negativeEigenvalues)")
                // 1e-6 relative, 1e-4 absolute for values near zero (the FID of a set with itself).
                assertRelativelyEqual(fid.value, expected, rel: 1e-6, abs: 1e-4, "\(a)-\(b) \(route)")
                XCTAssertFalse(fid.offsetApplied)
                values.append(fid.value)
            }
            // Full rank: the Cholesky route (eigenvalues of L1ᵀ·S2·L1, two-stage reduction) and the factor route
            // (singular values of L1ᵀ·L2) are independent computations of the same number; measured 2e-14 apart,
            // and each 2e-14 from scipy.
            if a == "A" && b == "B" { assertRelativelyEqual(values[0], values[1], rel: 1e-11, "A-B: Cholesky vs factor route") }
        }
        // The Cholesky route is taken for two full-rank covariances, the factor route when one is rank-deficient
        // (N = 1000 < 2048), and the Cholesky route refuses a singular one.
        let big = try statistics("A", try XCTUnwrap(sets["A"]), seed: seed)
        let big2 = try statistics("B", try XCTUnwrap(sets["B"]), seed: seed)
        let small = try statistics("C", try XCTUnwrap(sets["C"]), seed: seed)
        XCTAssertEqual(try FrechetDistance.compute(big, big2).route, .cholesky)
        XCTAssertEqual(try FrechetDistance.compute(big, small).route, .eigen)
        XCTAssertEqual(try FrechetDistance.compute(small, big).route, .eigen)
        XCTAssertThrowsError(try FrechetDistance.compute(small, big, route: .cholesky))
        // Statistics files carry no sample count: a singular S2 is then found by its Cholesky factorisation, and a
        // feature of zero variance by the diagonal; both end on the factor route with the value the count-aware
        // call finds.
        let smallFile = try GaussianStatistics(mu: small.mu, sigma: small.sigma)
        let viaCount = try FrechetDistance.compute(big, small), viaFile = try FrechetDistance.compute(big, smallFile)
        XCTAssertEqual(viaFile.route, .eigen)
        assertRelativelyEqual(viaFile.value, viaCount.value, rel: 1e-12, "A-C without a sample count")
        var dead = big2.sigma
        for i in 0..<2048 { dead[i * 2048 + 5] = 0; dead[5 * 2048 + i] = 0 }
        let deadFeature = try GaussianStatistics(mu: big2.mu, sigma: dead)
        let automatic = try FrechetDistance.compute(big, deadFeature)
        XCTAssertEqual(automatic.route, .eigen)
        assertRelativelyEqual(automatic.value, try FrechetDistance.compute(big, deadFeature, route: .eigen).value, rel: 1e-12,
                              "A-B with a constant feature")
    }

    /// The Cholesky route has three thread modes (LinearAlgebra.congruenceEigenvalues): one thread; two, split into
    /// halves on our own threads with our transcription of LAPACK's band reduction; more, OpenBLAS's threads and
    /// LAPACK's dsytrd_sy2sb. They differ only in rounding.
    func testThreadModesAgree() throws {
        let fixture = try MetricsFixtures.json("fid.json")
        let seed = UInt64(try XCTUnwrap(fixture["seed"] as? Int))
        let sets = try XCTUnwrap(fixture["sets"] as? [String: [String: Any]])
        let a = try statistics("A", try XCTUnwrap(sets["A"]), seed: seed)
        let b = try statistics("B", try XCTUnwrap(sets["B"]), seed: seed)
        defer { Threading.setThreads(0) }
        var values: [Double] = []
        for threads in [2, 1, 3] {
            Threading.setThreads(threads)
            let fid = try FrechetDistance.compute(a, b)
            XCTAssertEqual(fid.route, .cholesky)
            values.append(fid.value)
        }
        print("FID A-B with 2, 1, 3 threads: \(values)")
        for v in values.dropFirst() { assertRelativelyEqual(v, values[0], rel: 1e-12, "thread modes") }
    }

    /// With fewer samples than dimensions the nonzero eigenvalues of S1·S2 are those of a small matrix built from the
    /// centred features: tr sqrtm(S1·S2) = Σ σ(X1·X2ᵀ) / sqrt((N1-1)(N2-1)). Both routes must find that value to
    /// ~1e-9 (the factor route works with singular values, not with roots of rounding-level eigenvalues).
    func testSingularCovariancesMatchTheExactLowRankTrace() throws {
        let fixture = try MetricsFixtures.json("fid.json")
        let seed = UInt64(try XCTUnwrap(fixture["seed"] as? Int))
        let d = 2048, n1 = 1000, n2 = 300
        let x1 = fidFeatures("C", n: n1, seed: seed, shift: 0.10), x2 = fidFeatures("D", n: n2, seed: seed, shift: 0.15)
        func centred(_ x: [Double], _ n: Int) -> [Double] {
            var mean = [Double](repeating: 0, count: d)
            for r in 0..<n { for j in 0..<d { mean[j] += x[r * d + j] } }
            for j in 0..<d { mean[j] /= Double(n) }
            var c = x
            for r in 0..<n { for j in 0..<d { c[r * d + j] -= mean[j] } }
            return c
        }
        let c1 = centred(x1, n1), c2 = centred(x2, n2)
        // G = C1·C2ᵀ (n1 × n2, row-major), then its singular values.
        var g = [Double](repeating: 0, count: n1 * n2)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(n1), blasint(n2), blasint(d), 1, c1, blasint(d),
                    c2, blasint(d), 0, &g, blasint(n2))
        var sv = [Double](repeating: 0, count: n2)
        // U and Vᵀ are not computed with jobz "N", but LAPACKE still checks their leading dimensions.
        var u = [Double](repeating: 0, count: 1), vt = [Double](repeating: 0, count: n2)
        let info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, CChar(UInt8(ascii: "N")), Int32(n1), Int32(n2), &g, Int32(n2), &sv,
                                  &u, 1, &vt, Int32(n2))
        XCTAssertEqual(info, 0)
        let exact = sv.reduce(0, +) / (Double(n1 - 1) * Double(n2 - 1)).squareRoot()
        var a1 = try FeatureStatistics(dimension: d), a2 = try FeatureStatistics(dimension: d)
        try x1.withUnsafeBufferPointer { try a1.add($0, rows: n1) }
        try x2.withUnsafeBufferPointer { try a2.add($0, rows: n2) }
        let s1 = try a1.statistics(), s2 = try a2.statistics()
        for (a, b) in [(s1, s2), (s2, s1)] {
            let fid = try FrechetDistance.compute(a, b)
            print("singular: tr sqrtm \(fid.traceSqrtProduct) vs exact \(exact) (\(fid.route.rawValue)), rel \(abs(fid.traceSqrtProduct - exact) / exact)")
            assertRelativelyEqual(fid.traceSqrtProduct, exact, rel: 1e-9)
            XCTAssertEqual(fid.negativeEigenvalues, 0)
        }
    }

    /// pytorch-fid's `.npz` statistics: numpy's file reads back as our statistics of the same features, ours
    /// round-trips exactly, and the FID between two small sets matches.
    func testStatisticsFileFormat() throws {
        let fixture = try MetricsFixtures.json("fid.json")
        let seed = UInt64(try XCTUnwrap(fixture["seed"] as? Int))
        let small = try XCTUnwrap(fixture["small"] as? [String: Any])
        let path = MetricsFixtures.directory.appendingPathComponent("small_stats.npz").path
        let numpy = try GaussianStatistics.read(path: path)
        XCTAssertEqual(numpy.dimension, 64)
        var acc = try FeatureStatistics(dimension: 64)
        let f1 = fidFeatures("S1", n: 500, seed: seed, shift: 0.1, dim: 64, rank: 8)
        try f1.withUnsafeBufferPointer { try acc.add($0, rows: 500) }
        let ours = try acc.statistics()
        for i in 0..<64 { assertRelativelyEqual(ours.mu[i], numpy.mu[i], rel: 1e-13, abs: 1e-16) }
        for i in 0..<(64 * 64) { assertRelativelyEqual(ours.sigma[i], numpy.sigma[i], rel: 1e-11, abs: 1e-16) }

        var acc2 = try FeatureStatistics(dimension: 64)
        let f2 = fidFeatures("S2", n: 400, seed: seed, shift: 0.2, dim: 64, rank: 8)
        try f2.withUnsafeBufferPointer { try acc2.add($0, rows: 400) }
        let fid = try FrechetDistance.compute(numpy, try acc2.statistics())
        assertRelativelyEqual(fid.value, try XCTUnwrap(small["fid"] as? Double), rel: 1e-9)

        let tmp = NSTemporaryDirectory() + "vqrt-stats-\(getpid()).npz"
        defer { unlink(tmp) }
        try ours.write(path: tmp)
        let back = try GaussianStatistics.read(path: tmp)
        XCTAssertEqual(back.mu, ours.mu)
        XCTAssertEqual(back.sigma, ours.sigma)

        // Two files read at once (vqrt fid A.npz B.npz): the same statistics, each file's own error.
        let (both1, both2) = GaussianStatistics.read(paths: path, tmp)
        XCTAssertEqual(try both1.get(), numpy)
        XCTAssertEqual(try both2.get(), back)
        let missing = tmp + ".missing.npz"
        let (ok, bad) = GaussianStatistics.read(paths: tmp, missing)
        XCTAssertEqual(try ok.get(), back)
        XCTAssertThrowsError(try bad.get()) { XCTAssertTrue("\($0)".contains("missing"), "\($0)") }
        let archive = try NPZ.read(path: tmp)
        XCTAssertEqual(archive["mu"]?.dtype, .float64)
        XCTAssertEqual(archive["sigma"]?.shape, [64, 64])
    }

    func testBadStatisticsFilesAreReportedWithTheirName() throws {
        let dir = NSTemporaryDirectory() + "vqrt-badstats-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cases: [(String, [(String, NPYArray)], String)] = [
            ("nosigma.npz", [("mu", try NPYArray(doubles: [1, 2], shape: [2]))], "sigma"),
            ("shape.npz", [("mu", try NPYArray(doubles: [1, 2], shape: [2])),
                           ("sigma", try NPYArray(doubles: [1, 0, 0], shape: [3]))], "sigma"),
            ("nan.npz", [("mu", try NPYArray(doubles: [1, .nan], shape: [2])),
                         ("sigma", try NPYArray(doubles: [1, 0, 0, 1], shape: [2, 2]))], "NaN"),
            ("ints.npz", [("mu", try NPYArray(int64s: [1, 2], shape: [2])),
                          ("sigma", try NPYArray(doubles: [1, 0, 0, 1], shape: [2, 2]))], "int"),
        ]
        for (name, items, needle) in cases {
            let path = dir + "/" + name
            try NPZ.write(items, to: path)
            XCTAssertThrowsError(try GaussianStatistics.read(path: path)) {
                XCTAssertTrue("\($0)".contains(name) && "\($0)".contains(needle), "\($0)")
            }
        }
        try Data("not a zip".utf8).write(to: URL(fileURLWithPath: dir + "/garbage.npz"))
        XCTAssertThrowsError(try GaussianStatistics.read(path: dir + "/garbage.npz"))
        XCTAssertThrowsError(try GaussianStatistics.read(path: dir + "/missing.npz"))
    }

    func testAccumulatorEdgeCases() throws {
        var s = try FeatureStatistics(dimension: 3)
        try s.add([1, 2, 3])
        XCTAssertThrowsError(try s.statistics())   // one sample: no covariance
        XCTAssertThrowsError(try s.add([1, 2]))    // not whole rows
        XCTAssertThrowsError(try s.add([Float.nan, 0, 0]))
        XCTAssertThrowsError(try s.merge(try FeatureStatistics(dimension: 4)))
        try s.add([3, 2, 1, 5, 5, 5])
        let st = try s.statistics()
        XCTAssertEqual(st.mu, [3, 3, 3])
        // np.cov([[1,2,3],[3,2,1],[5,5,5]], rowvar=False)
        XCTAssertEqual(st.sigma, [4, 3, 2, 3, 3, 3, 2, 3, 4])
        XCTAssertThrowsError(try FeatureStatistics(dimension: 0))
        // FID of a set with itself is ~0; mismatched dimensions are refused.
        XCTAssertEqual(try FrechetDistance.compute(st, st).value, 0, accuracy: 1e-12)
        var other = try FeatureStatistics(dimension: 2)
        try other.add([1, 2, 3, 5])
        XCTAssertThrowsError(try FrechetDistance.compute(st, try other.statistics()))
    }

    /// Partial state survives an .npz round trip and merges to the same statistics as one pass.
    func testPartialStateRoundTrip() throws {
        let f = fidFeatures("RT", n: 90, seed: 5, shift: 0.1, dim: 32, rank: 4)
        var whole = try FeatureStatistics(dimension: 32)
        try f.withUnsafeBufferPointer { try whole.add($0, rows: 90) }
        var a = try FeatureStatistics(dimension: 32), b = try FeatureStatistics(dimension: 32)
        try f.withUnsafeBufferPointer { p in
            try a.add(UnsafeBufferPointer(rebasing: p[0..<(40 * 32)]), rows: 40)
            try b.add(UnsafeBufferPointer(rebasing: p[(40 * 32)...]), rows: 50)
        }
        let tmp = NSTemporaryDirectory() + "vqrt-partial-\(getpid()).npz"
        defer { unlink(tmp) }
        try NPZ.write(try a.archived(prefix: "orig.") + b.archived(prefix: "recon."), to: tmp)
        let archive = try NPZ.read(path: tmp)
        var a2 = try FeatureStatistics(archive: archive, prefix: "orig.", file: tmp)
        let b2 = try FeatureStatistics(archive: archive, prefix: "recon.", file: tmp)
        try a2.merge(b2)
        let x = try a2.statistics(), y = try whole.statistics()
        for i in 0..<32 { XCTAssertEqual(x.mu[i], y.mu[i], accuracy: 1e-14) }
        for i in 0..<(32 * 32) { XCTAssertEqual(x.sigma[i], y.sigma[i], accuracy: 1e-14) }
        XCTAssertThrowsError(try FeatureStatistics(archive: archive, prefix: "missing.", file: tmp))
    }
}
