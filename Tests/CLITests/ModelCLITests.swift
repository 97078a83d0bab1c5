// The model commands end to end: reconstruct (with a bad image in the batch), encode → decode round trip,
// and the demo.

import Foundation
import XCTest

final class ModelCLITests: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws {
        tmp = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("vqrt-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    var model: [String] {
        ["--checkpoint", CLI.fixture("models/ldm-small/model.ckpt"), "--config", CLI.fixture("models/ldm-small/config.yaml")]
    }
    let images = ["imaging/decode/gray.jpg", "imaging/decode/bad_truncated.png", "imaging/decode/gray16.png"].map(CLI.fixture)

    func testReconstructSkipsBadImagesAndWritesTheRest() throws {
        let out = tmp.appendingPathComponent("out").path, orig = tmp.appendingPathComponent("orig").path
        let r = try CLI.run(["reconstruct"] + model + images + ["--output", out, "--originals", orig, "--batch-size", "2",
                                                             "--raw", tmp.appendingPathComponent("raw.npy").path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("warning: ") && r.stderr.contains("bad_truncated.png"), r.stderr)
        XCTAssertTrue(r.stderr.contains("warning: 1 of 3 images could not be read"), r.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out).sorted(), ["gray.png", "gray16.png"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: orig).sorted(), ["gray.png", "gray16.png"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("raw.npy").path))
    }

    func testEncodeThenDecodeEqualsReconstruct() throws {
        let good = [images[0], images[2]]
        let codes = tmp.appendingPathComponent("codes.npy").path
        var r = try CLI.run(["encode"] + model + good + ["--codes", codes, "--latents", tmp.appendingPathComponent("lat.npy").path, "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try CLI.run(["decode"] + model + ["--codes", codes, "--output", tmp.appendingPathComponent("dec").path, "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try CLI.run(["reconstruct"] + model + good + ["--output", tmp.appendingPathComponent("rec").path, "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        for (i, name) in ["gray.png", "gray16.png"].enumerated() {
            let a = try Data(contentsOf: tmp.appendingPathComponent("dec").appendingPathComponent(String(format: "%06d.png", i)))
            let b = try Data(contentsOf: tmp.appendingPathComponent("rec").appendingPathComponent(name))
            XCTAssertEqual(a, b, "decode(encode(\(name))) differs from reconstruct")
        }
    }

    func testBadCodesAndMissingCheckpointAreOneLineErrors() throws {
        var r = try CLI.run(["decode"] + model + ["--codes", CLI.fixture("imaging/npy/f4_2x3x4.npy"), "--output", tmp.path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.hasPrefix("error: "), r.stderr)
        let missing = tmp.appendingPathComponent("none.ckpt").path
        r = try CLI.run(["reconstruct", "--checkpoint", missing, images[0], "--output", tmp.path])
        XCTAssertOneErrorLine(r, "error: \(missing): no such file")
    }

    func testSameBaseNamesNeedKeepDirs() throws {
        // Two directories holding an image of the same name: refused, or mirrored with --keep-dirs.
        let inputs = tmp.appendingPathComponent("in")
        for sub in ["a", "b"] {
            try FileManager.default.createDirectory(at: inputs.appendingPathComponent(sub), withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: images[0], toPath: inputs.appendingPathComponent("\(sub)/gray.jpg").path)
        }
        let dirs = ["a", "b"].map { inputs.appendingPathComponent($0).path }
        let out = tmp.appendingPathComponent("out")
        XCTAssertOneErrorLine(try CLI.run(["reconstruct"] + model + dirs + ["--output", out.path]), "--keep-dirs")
        let r = try CLI.run(["reconstruct"] + model + dirs + ["--output", out.path, "--keep-dirs", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try CLI.contents(of: out).keys.sorted(), ["a/gray.png", "b/gray.png"])
    }

    func testDemoRunsOnTheBundledDefault() throws {
        let r = try CLI.run(["demo", "--output", tmp.appendingPathComponent("demo").path], environment: ["VQRT_DEMO_DIR": CLI.fixture("demo")])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("mean PSNR:"), r.stdout)
        XCTAssertTrue(r.stdout.contains("codebook usage:"), r.stdout)
        XCTAssertTrue(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("demo/side_by_side.png").path))
        // The Swift reconstruction's PSNR equals PyTorch's to the printed precision.
        let mean = r.stdout.split(separator: "\n").first { $0.hasPrefix("mean PSNR:") }
        let torch = r.stdout.split(separator: "\n").first { $0.hasPrefix("PyTorch's reconstruction") }
        XCTAssertNotNil(mean); XCTAssertNotNil(torch)
        XCTAssertEqual(mean?.split(separator: " ")[2], torch?.split(separator: " ").dropLast().last)
    }
}
