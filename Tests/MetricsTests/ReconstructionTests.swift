// Reconstruction statistics on synthetic data ("recon v1", Fixtures/metrics/recon.json): codebook usage as
// rotation_trick's `log_codebook_usage` loop computes it, perplexity, PSNR as scikit-image, MSE, quantisation error.
import Foundation
import Metrics
import NPY
import XCTest

final class ReconstructionTests: XCTestCase {
    /// recon v1 codes: u = (raw >> 40) % K, code = u·u / K (integer division), [n, positions].
    func codes(_ set: String, n: Int, positions: Int, seed: UInt64, codes k: Int) -> [Int64] {
        rawStream("codes.\(set)", count: n * positions, seed: seed).map { raw in
            let u = Int64((raw >> 40) % UInt64(k))
            return (u * u) / Int64(k)
        }
    }

    func testCodebookUsageMatchesRotationTrick() throws {
        let fixture = try MetricsFixtures.json("recon.json")
        let seed = UInt64(try XCTUnwrap(fixture["seed"] as? Int))
        let cb = try XCTUnwrap(fixture["codebook"] as? [String: Any])
        let n = try XCTUnwrap(cb["n"] as? Int), positions = try XCTUnwrap(cb["positions"] as? Int)
        let k = try XCTUnwrap(cb["num_codes"] as? Int)
        let all = codes("run", n: n, positions: positions, seed: seed, codes: k)
        for (batch, expected) in try XCTUnwrap(cb["windowed"] as? [String: [String: Any]]) {
            let window = CodebookUsage.upstreamWindow(batchSize: Int(batch)!)
            XCTAssertEqual(window, expected["window_images"] as? Int)
            // Fed in batches of 7 images, in three shards whose boundaries cut through windows, merged out of order.
            let cuts = [0, 301, 650, n]
            var shards: [CodebookUsage] = []
            for s in 0..<3 {
                var acc = try CodebookUsage.rotationTrick(codebookSize: k, batchSize: Int(batch)!, startIndex: cuts[s])
                var i = cuts[s]
                while i < cuts[s + 1] {
                    let j = min(cuts[s + 1], i + 7)
                    try acc.add(codes: Array(all[(i * positions)..<(j * positions)]), images: j - i)
                    i = j
                }
                shards.append(acc)
            }
            var merged = shards[2]
            try merged.merge(shards[0])
            try merged.merge(shards[1])
            let r = merged.result
            XCTAssertEqual(r.windows, expected["windows"] as? Int, "batch \(batch)")
            assertRelativelyEqual(try XCTUnwrap(r.windowedUsage), try XCTUnwrap(expected["usage"] as? Double),
                                  rel: 1e-12, "batch \(batch)")
            XCTAssertEqual(r.usedCodes, cb["used_total"] as? Int)
            assertRelativelyEqual(r.usage, try XCTUnwrap(cb["usage_total"] as? Double), rel: 1e-12)
            assertRelativelyEqual(r.perplexity, try XCTUnwrap(cb["perplexity"] as? Double), rel: 1e-12)
            XCTAssertEqual(r.totalCodes, n * positions)
        }
    }

    func testCodebookUsageStateAndErrors() throws {
        let all = codes("state", n: 300, positions: 4, seed: 1, codes: 100)
        var a = try CodebookUsage(codebookSize: 100, windowImages: 64)
        try a.add(codes: Array(all[0..<(100 * 4)]), images: 100)
        var b = try CodebookUsage(codebookSize: 100, windowImages: 64, startIndex: 100)
        try b.add(codes: Array(all[(100 * 4)...]), images: 200)
        let tmp = NSTemporaryDirectory() + "vqrt-cb-\(getpid()).npz"
        defer { unlink(tmp) }
        try NPZ.write(try a.archived(prefix: "a.") + b.archived(prefix: "b."), to: tmp)
        let archive = try NPZ.read(path: tmp)
        var a2 = try CodebookUsage(archive: archive, prefix: "a.", file: tmp)
        try a2.merge(try CodebookUsage(archive: archive, prefix: "b.", file: tmp))
        var whole = try CodebookUsage(codebookSize: 100, windowImages: 64)
        try whole.add(codes: all, images: 300)
        XCTAssertEqual(a2.result, whole.result)
        XCTAssertEqual(whole.result.windows, 4)   // 300 images: 4 full windows of 64, 44 dropped
        // rotation_trick's batch counting: batch 16 -> windows of 16 batches (256 images), the last 44 images (3
        // batches) are dropped; batch 100 -> windows of 2 batches, the third batch alone is dropped; batch 90 ->
        // windows of 2 batches (180 images): batches 3 and 4 (90 + 30 images) still make a (short) window.
        for (batch, windows) in [(16, 1), (100, 1), (90, 2)] {
            var rt = try CodebookUsage.rotationTrick(codebookSize: 100, batchSize: batch)
            try rt.add(codes: all, images: 300)
            XCTAssertEqual(rt.result.windows, windows, "batch \(batch)")
        }
        XCTAssertThrowsError(try whole.merge(whole))               // the same windows twice
        XCTAssertThrowsError(try whole.add(codes: [100], images: 1))  // outside the codebook
        XCTAssertThrowsError(try whole.add(codes: [-1], images: 1))
        XCTAssertThrowsError(try whole.add(codes: [1, 2, 3], images: 2))
        var none = try CodebookUsage(codebookSize: 10)
        try none.add(codes: [1, 2], images: 2)
        XCTAssertNil(none.result.windowedUsage)   // upstream would divide by zero
        XCTAssertEqual(none.result.usedCodes, 2)
        XCTAssertEqual(none.result.perplexity, 2, accuracy: 1e-12)
    }

    func testPSNRMatchesScikitImage() throws {
        let fixture = try MetricsFixtures.json("recon.json")
        let seed = UInt64(try XCTUnwrap(fixture["seed"] as? Int))
        let p = try XCTUnwrap(fixture["psnr"] as? [String: Any])
        let n = try XCTUnwrap(p["n"] as? Int), h = try XCTUnwrap(p["height"] as? Int), w = try XCTUnwrap(p["width"] as? Int)
        let count = n * h * w * 3, per = h * w * 3
        let orig = rawStream("psnr.orig", count: count, seed: seed).map { UInt8($0 >> 56) }
        let noise = rawStream("psnr.noise", count: count, seed: seed).map { Int(($0 >> 56) % 21) - 10 }
        var recon = [UInt8](repeating: 0, count: count)
        for i in 0..<count {
            let amp = (i / per) % 4
            recon[i] = UInt8(min(255, max(0, Int(orig[i]) + noise[i] * amp)))
        }
        var acc = PSNRStatistics(), second = PSNRStatistics()
        try acc.add(original: Array(orig[0..<(5 * per)]), reconstruction: Array(recon[0..<(5 * per)]), images: 5)
        try second.add(original: Array(orig[(5 * per)...]), reconstruction: Array(recon[(5 * per)...]), images: n - 5)
        try acc.merge(second)
        let r = acc.result
        XCTAssertEqual(r.images, n)
        XCTAssertEqual(r.identical, p["identical"] as? Int)
        assertRelativelyEqual(try XCTUnwrap(r.meanPSNR), try XCTUnwrap(p["mean_finite"] as? Double), rel: 1e-13)
        assertRelativelyEqual(r.pooledMSE, try XCTUnwrap(p["pooled_mse"] as? Double), rel: 1e-13)
        assertRelativelyEqual(try XCTUnwrap(r.pooledPSNR), try XCTUnwrap(p["pooled_psnr"] as? Double), rel: 1e-13)
        // Per image, one at a time.
        let perImage = try XCTUnwrap(p["per_image"] as? [Any])
        for k in 0..<n {
            var one = PSNRStatistics()
            try one.add(original: Array(orig[(k * per)..<((k + 1) * per)]),
                        reconstruction: Array(recon[(k * per)..<((k + 1) * per)]), images: 1)
            if let v = perImage[k] as? Double {
                assertRelativelyEqual(try XCTUnwrap(one.result.meanPSNR), v, rel: 1e-14)
            } else {
                XCTAssertNil(one.result.meanPSNR)
                XCTAssertEqual(one.result.identical, 1)
            }
        }
        XCTAssertThrowsError(try acc.add(original: [1, 2], reconstruction: [1], images: 1))
    }

    func testMSEAndQuantizationError() throws {
        let fixture = try MetricsFixtures.json("recon.json")
        let seed = UInt64(try XCTUnwrap(fixture["seed"] as? Int))
        let mse = try XCTUnwrap(fixture["mse"] as? [String: Any])
        let x = c4("mse.x", [6, 3, 16, 16], seed: seed), y = c4("mse.y", [6, 3, 16, 16], seed: seed)
        var acc = SquaredErrorStatistics(), other = SquaredErrorStatistics()
        try acc.add(Array(x[0..<700]), Array(y[0..<700]))
        try other.add(Array(x[700...]), Array(y[700...]))
        try acc.merge(other)
        assertRelativelyEqual(try XCTUnwrap(acc.meanSquaredError), try XCTUnwrap(mse["mse"] as? Double), rel: 1e-13)

        // Quantisation error: latents [4, 8, 5, 5] against their nearest codes (indices from the fixture).
        let q = try XCTUnwrap(fixture["quantization"] as? [String: Any])
        let z = c4("quant.z", [4, 8, 5, 5], seed: seed), book = c4("quant.codebook", [32, 8], seed: seed)
        let indices = try XCTUnwrap(q["indices"] as? [Int])
        var quantized = [Float](repeating: 0, count: z.count)
        for b in 0..<4 {
            for pos in 0..<25 {
                let code = indices[b * 25 + pos]
                for c in 0..<8 { quantized[(b * 8 + c) * 25 + pos] = book[code * 8 + c] }
            }
        }
        var qe = SquaredErrorStatistics()
        try qe.add(z, quantized, vectorLength: 8)
        assertRelativelyEqual(try XCTUnwrap(qe.meanSquaredDistance), try XCTUnwrap(q["mean_squared_distance"] as? Double), rel: 1e-12)
        assertRelativelyEqual(try XCTUnwrap(qe.meanSquaredError), try XCTUnwrap(q["mse_per_element"] as? Double), rel: 1e-12)
        XCTAssertThrowsError(try qe.add([1, 2, 3], [1, 2, 3], vectorLength: 2))
        XCTAssertThrowsError(try qe.add([Float.nan], [0]))

        let tmp = NSTemporaryDirectory() + "vqrt-se-\(getpid()).npz"
        defer { unlink(tmp) }
        var psnr = PSNRStatistics()
        try psnr.add(original: [0, 10, 20, 30], reconstruction: [1, 10, 20, 30], images: 2)
        try NPZ.write(try qe.archived(prefix: "q.") + psnr.archived(prefix: "p."), to: tmp)
        let archive = try NPZ.read(path: tmp)
        let qe2 = try SquaredErrorStatistics(archive: archive, prefix: "q.", file: tmp)
        XCTAssertEqual(qe2.meanSquaredDistance, qe.meanSquaredDistance)
        XCTAssertEqual(try PSNRStatistics(archive: archive, prefix: "p.", file: tmp).result, psnr.result)
    }
}
