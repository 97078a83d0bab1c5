import TestSupport
import XCTest
import Foundation
import NN

/// vqrt-rng v1 (contract C4) against the Python reference (Fixtures/models/rng_reference.json, tools/vqrt_rng.py).
final class DeterministicWeightsTests: XCTestCase {
    private func hex(_ s: String) -> UInt64? { UInt64(s.dropFirst(2), radix: 16) }

    func testMatchesPythonReferenceBitForBit() throws {
        let url = NNFixtures.directory.deletingLastPathComponent().appendingPathComponent("models/rng_reference.json")
        let data = try Data(contentsOf: url)
        let ref = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let seed = UInt64(try XCTUnwrap(ref["seed"] as? Int))
        for (name, value) in try XCTUnwrap(ref["fnv1a64"] as? [String: String]) {
            XCTAssertEqual(DeterministicWeightSource.fnv1a64(name), hex(value), name)
        }
        let tensors = try XCTUnwrap(ref["tensors"] as? [[String: Any]])
        XCTAssertGreaterThan(tensors.count, 5)
        for t in tensors {
            let name = try XCTUnwrap(t["name"] as? String)
            let shape = try XCTUnwrap(t["shape"] as? [Int])
            let values = DeterministicWeightSource.values(name: name, shape: shape, seed: seed)
            XCTAssertEqual(values.count, shape.reduce(1, *))
            if let raw = t["first_u64"] as? [String] {
                XCTAssertEqual(DeterministicWeightSource.rawStream(name: name, seed: seed, count: raw.count), raw.compactMap(hex), name)
            }
            if let bits = t["first_values_f32_bits"] as? [String] {
                XCTAssertEqual(values.prefix(bits.count).map { UInt64($0.bitPattern) }, bits.compactMap(hex), name)
            }
            // Decimal values: compared after rounding to float32 (Foundation's JSON parser is not correctly
            // rounded for doubles, but is far closer than half a float32 ulp).
            if let first = t["first_values"] as? [Double] {
                XCTAssertEqual(Array(values.prefix(first.count)), first.map { Float($0) }, name)
            }
            if let last = t["last_values"] as? [Double] {
                XCTAssertEqual(Array(values.suffix(last.count)), last.map { Float($0) }, name)
            }
            if let sum = t["sum_f64"] as? Double {
                XCTAssertEqual(values.reduce(0.0) { $0 + Double($1) }, sum, accuracy: 1e-9 * max(1, abs(sum)), name)
            }
        }
    }

    func testSourceServesDeclaredTensorsOnly() throws {
        let src = DeterministicWeightSource(seed: 7, tensors: [(name: "a.weight", shape: [2, 3]), (name: "a.bias", shape: [2])])
        XCTAssertEqual(src.names, ["a.weight", "a.bias"])
        let w = try XCTUnwrap(try src.tensor(named: "a.weight"))
        XCTAssertEqual(w.shape, [2, 3])
        XCTAssertTrue(w.values.allSatisfy { abs($0) <= 1 })
        XCTAssertNil(try src.tensor(named: "b.weight"))
        // Norm scales are near 1, biases small.
        let norm = DeterministicWeightSource.values(name: "n.weight", shape: [64], seed: 1)
        XCTAssertTrue(norm.allSatisfy { $0 >= 0.9 && $0 <= 1.1 })
    }
}
