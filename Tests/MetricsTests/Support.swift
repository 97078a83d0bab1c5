import CLAPACK
import Foundation
import TestSupport
import NN
import XCTest

/// Fixtures/metrics (written by tools/make_inception_fixtures.py --only metrics).
enum MetricsFixtures {
    static let directory = PackagePaths.fixtures("metrics")

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: directory.appendingPathComponent(name))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }
}

/// Contract C4 draws for `name` / `shape` (float32), as tools/vqrt_rng.py `values`.
func c4(_ name: String, _ shape: [Int], seed: UInt64) -> [Float] {
    DeterministicWeightSource.values(name: name, shape: shape, seed: seed)
}

/// "fid-features v1" (tools/make_inception_fixtures.py `fid_features`): float64 [n, dim] =
/// max(0, 8·(Z·M) + 4·E + shift), returned as float64 and as the float32 rounding (what a network would hand over).
func fidFeatures(_ set: String, n: Int, seed: UInt64, shift: Double, dim: Int = 2048, rank: Int = 64) -> [Double] {
    let z = c4("fid.\(set).z", [n, rank], seed: seed).map(Double.init)
    let m = c4("fid.mix.\(dim)", [rank, dim], seed: seed).map(Double.init)
    let e = c4("fid.\(set).noise", [n, dim], seed: seed)
    var zm = [Double](repeating: 0, count: n * dim)
    z.withUnsafeBufferPointer { zp in
        m.withUnsafeBufferPointer { mp in
            zm.withUnsafeMutableBufferPointer { out in
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(n), blasint(dim), blasint(rank), 1,
                            zp.baseAddress, blasint(rank), mp.baseAddress, blasint(dim), 0, out.baseAddress, blasint(dim))
            }
        }
    }
    var f = [Double](repeating: 0, count: n * dim)
    for i in 0..<(n * dim) { f[i] = max(0, zm[i] * 8 + Double(e[i]) * 4 + shift) }
    return f
}

/// The C4 SplitMix64 stream for `name` (tools/vqrt_rng.py `raw_u64`).
func rawStream(_ name: String, count: Int, seed: UInt64) -> [UInt64] {
    DeterministicWeightSource.rawStream(name: name, seed: seed, count: count)
}

func assertRelativelyEqual(_ a: Double, _ b: Double, rel: Double, abs absTol: Double = 0, _ message: String = "",
                           file: StaticString = #filePath, line: UInt = #line) {
    let ok = Swift.abs(a - b) <= max(rel * Swift.abs(b), absTol)
    XCTAssertTrue(ok, "\(a) vs \(b) (rel \(Swift.abs(a - b) / max(Swift.abs(b), 1e-300))) \(message)", file: file, line: line)
}
