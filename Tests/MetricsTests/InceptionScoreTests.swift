// IS against pytorch-image-generation-metrics 0.6.1 (`calculate_inception_score`, numpy path) on synthetic logits
// ("is-logits v1": C4 draws times a scale; Fixtures/metrics/is.json), softmax in float32 as PIGM does it.
import Foundation
import Metrics
import NPY
import XCTest

final class InceptionScoreTests: XCTestCase {
    func logits(_ set: String, n: Int, seed: UInt64, scale: Double) -> [Float] {
        c4("is.\(set).logits", [n, 1008], seed: seed).map { $0 * Float(scale) }
    }

    func testMatchesPIGM() throws {
        let fixture = try MetricsFixtures.json("is.json")
        let seed = UInt64(try XCTUnwrap(fixture["seed"] as? Int))
        for c in try XCTUnwrap(fixture["cases"] as? [[String: Any]]) {
            let set = try XCTUnwrap(c["set"] as? String), n = try XCTUnwrap(c["n"] as? Int)
            let splits = try XCTUnwrap(c["splits"] as? Int), scale = try XCTUnwrap(c["scale"] as? Double)
            let mean = try XCTUnwrap(c["is_mean"] as? Double), std = try XCTUnwrap(c["is_std"] as? Double)
            let x = logits(set, n: n, seed: seed, scale: scale)
            let rows = { (a: Int, b: Int) in Array(x[(a * 1008)..<(b * 1008)]) }

            // Streaming with the total known, fed in uneven batches by two shards merged in reverse order.
            let cut = n / 2 + 3
            var first = try InceptionScoreAccumulator(splits: splits, expectedCount: n)
            var second = try InceptionScoreAccumulator(splits: splits, expectedCount: n, startIndex: cut)
            var i = 0
            while i < cut { let j = min(cut, i + 37); try first.add(logits: rows(i, j)); i = j }
            while i < n { let j = min(n, i + 50); try second.add(logits: rows(i, j)); i = j }
            try second.merge(first)
            let streamed = try second.result()

            // Buffering without a known total.
            var buffered = try InceptionScoreAccumulator(splits: splits)
            try buffered.add(logits: x)
            let kept = try buffered.result()

            for r in [streamed, kept] {
                print("IS \(set)/\(splits): \(r.mean) ± \(r.std) vs PIGM \(mean) ± \(std)")
                XCTAssertEqual(r.count, n)
                assertRelativelyEqual(r.mean, mean, rel: 1e-6, "\(set) splits \(splits)")
                assertRelativelyEqual(r.std, std, rel: 1e-4, abs: 1e-9, "\(set) splits \(splits) std")
            }
            assertRelativelyEqual(streamed.mean, kept.mean, rel: 1e-12)
        }
    }

    func testSplitBoundariesFollowFloorDivision() throws {
        // 13 images in 4 parts: [0,3) [3,6) [6,9) [9,13) (k·13//4).
        var acc = try InceptionScoreAccumulator(splits: 4, classes: 3, expectedCount: 13)
        // One-hot probabilities for class i % 3: each part's score is exp(KL) of one-hots against their mean.
        var p = [Float]()
        for i in 0..<13 { p += (0..<3).map { $0 == i % 3 ? 1 : 0 } }
        try p.withUnsafeBufferPointer { try acc.add(probabilities: $0, rows: 13) }
        let r = try acc.result()
        // Parts of 3 images hold classes {0,1,2}: IS = 3; the last part (9..12: classes 0,1,2,0) gives
        // exp(0.5·ln 2 + 0.25·ln 4 + 0.25·ln 4) = exp(1.5 ln 2 - ... ) computed directly below.
        let last = exp(0.5 * log(1 / 0.5) + 0.25 * log(1 / 0.25) + 0.25 * log(1 / 0.25))
        XCTAssertEqual(r.perSplit[0], 3, accuracy: 1e-12)
        XCTAssertEqual(r.perSplit[2], 3, accuracy: 1e-12)
        XCTAssertEqual(r.perSplit[3], last, accuracy: 1e-12)
    }

    func testErrors() throws {
        XCTAssertThrowsError(try InceptionScoreAccumulator(splits: 10, expectedCount: 7))  // PIGM: NaN
        var acc = try InceptionScoreAccumulator(splits: 10)
        try acc.add(logits: [Float](repeating: 0, count: 5 * 1008))
        XCTAssertThrowsError(try acc.result())
        XCTAssertThrowsError(try acc.add(logits: [1, 2, 3]))
        var known = try InceptionScoreAccumulator(splits: 2, expectedCount: 4)
        try known.add(logits: [Float](repeating: 0, count: 3 * 1008))
        XCTAssertThrowsError(try known.result())                      // 3 of 4 images
        XCTAssertThrowsError(try known.add(logits: [Float](repeating: 0, count: 2 * 1008)))  // 5 of 4
        var overlap = try InceptionScoreAccumulator(splits: 2, expectedCount: 4, startIndex: 2)
        try overlap.add(logits: [Float](repeating: 0, count: 2 * 1008))
        XCTAssertThrowsError(try known.merge(overlap))
    }

    func testPartialStateRoundTrip() throws {
        let x = logits("rt", n: 40, seed: 3, scale: 50)
        for total in [40, nil] as [Int?] {
            var a = try InceptionScoreAccumulator(splits: 4, expectedCount: total)
            try a.add(logits: Array(x[0..<(25 * 1008)]))
            var b = try InceptionScoreAccumulator(splits: 4, expectedCount: total, startIndex: 25)
            try b.add(logits: Array(x[(25 * 1008)...]))
            let tmp = NSTemporaryDirectory() + "vqrt-is-\(getpid()).npz"
            defer { unlink(tmp) }
            try NPZ.write(try a.archived(prefix: "a.") + b.archived(prefix: "b."), to: tmp)
            let archive = try NPZ.read(path: tmp)
            var a2 = try InceptionScoreAccumulator(archive: archive, prefix: "a.", file: tmp)
            try a2.merge(try InceptionScoreAccumulator(archive: archive, prefix: "b.", file: tmp))
            var whole = try InceptionScoreAccumulator(splits: 4, expectedCount: total)
            try whole.add(logits: x)
            XCTAssertEqual(try a2.result().mean, try whole.result().mean, accuracy: 1e-12)
        }
    }
}
