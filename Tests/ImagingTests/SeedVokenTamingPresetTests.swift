// The open-magvit2, ibq and ldm-vqgan presets against the upstream data pipelines themselves (SEED-Voken's
// Open_MAGVIT2 and IBQ `ImagePaths`, taming's `ImagePaths`, run by tools/make_upstream_family_fixtures.py on the
// committed photos in Fixtures/presets), and evaluation_image.py's output mapping and round-tripped originals.

import Foundation
import Imaging
import NPY
import XCTest

final class SeedVokenTamingPresetTests: XCTestCase {
    let root = packageRoot.appendingPathComponent("Fixtures/presets")

    func manifest() throws -> [String: Any] {
        let data = try Data(contentsOf: root.appendingPathComponent("manifest.json"))
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func fnv1a64(_ bytes: UnsafeRawBufferPointer) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h ^= UInt64(b); h = h &* 0x0000_0100_0000_01b3 }
        return String(format: "%016lx", h)
    }

    /// Model inputs bit for bit (hash of the float32 CHW array, and sampled rows for a readable failure).
    func testPresetsEqualTheUpstreamImagePaths() throws {
        let cases = try XCTUnwrap(try manifest()["cases"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 18)
        for c in cases {
            let name = c["preset"] as! String, file = c["file"] as! String
            let preset = try XCTUnwrap(Preset.named(name))
            let image = try ImageDecoder.decode(path: root.appendingPathComponent(file).path)
            let x = try preset.tensor(image)
            XCTAssertEqual([3, preset.tensorSize!.height, preset.tensorSize!.width], c["shape"] as! [Int])
            let rows = c["rows"] as! [[Double]]
            let step = c["row_step"] as! Int, colStep = c["column_step"] as! Int
            var k = 0, bad = 0
            for ch in 0..<3 {
                for r in stride(from: 0, to: 256, by: step) {
                    for (j, col) in stride(from: 0, to: 256, by: colStep).enumerated() where Float(rows[k][j]) != x[(ch * 256 + r) * 256 + col] { bad += 1 }
                    k += 1
                }
            }
            XCTAssertEqual(bad, 0, "\(name) on \(file): \(bad) sampled values differ")
            XCTAssertEqual(x.withUnsafeBytes { fnv1a64($0) }, c["fnv1a64"] as! String, "\(name) on \(file)")
            // evaluation_image.py measures PSNR / SSIM against `((x + 1) / 2 * 255).to(uint8)` of its input.
            if let want = c["originals_fnv1a64"] as? String {
                let originals = try preset.originals(image)
                XCTAssertEqual(originals.pixels.withUnsafeBytes { fnv1a64($0) }, want, "\(name) originals on \(file)")
                XCTAssertNotEqual(originals, try preset.prepare(image), "the round trip loses a level on some values")
            }
        }
    }

    /// evaluation_image.py `custom_to_pil` (clamp(-1, 1), (x + 1) / 2, 255 x, truncated) equals the symmetric
    /// output mapping, at and around every level's boundary.
    func testEvaluationOutputMapping() throws {
        let m = try XCTUnwrap(try manifest()["mapping"] as? [String: String])
        let input = try NPY.read(path: root.appendingPathComponent(m["input"]!).path)
        let want = try NPY.read(path: root.appendingPathComponent(m["expected_hwc"]!).path).uint8s()
        let (h, w) = (input.shape[1], input.shape[2])
        for name in ["open-magvit2", "ibq"] {
            let got = try Preset.named(name)!.pixels(chw: try input.floats(), width: w, height: h)
            XCTAssertEqual(got.pixels, want, name)
        }
    }
}
