// The safety rules of spec/cli.md, one misuse at a time: inputs are never written, every misuse is one `error:`
// line decided before any compute, and what cannot fit in memory is refused rather than attempted.

import Foundation
import XCTest

final class SafetyCLITests: XCTestCase {
    var tmp: URL!
    var images: URL!
    var checkpoint: String!
    var config: String!

    override func setUpWithError() throws {
        tmp = try CLI.temporaryDirectory("safety")
        // Copies the tests may be tempted to destroy.
        images = tmp.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        for name in ["astronaut", "chelsea"] {
            try FileManager.default.copyItem(atPath: CLI.fixture("demo/images/\(name).png"), toPath: images.appendingPathComponent("\(name).png").path)
        }
        checkpoint = tmp.appendingPathComponent("model.ckpt").path
        config = tmp.appendingPathComponent("config.yaml").path
        try FileManager.default.copyItem(atPath: CLI.fixture("demo/demo-vqgan.ckpt"), toPath: checkpoint)
        try FileManager.default.copyItem(atPath: CLI.fixture("demo/config.yaml"), toPath: config)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    var model: [String] { ["--checkpoint", checkpoint, "--config", config, "--quiet"] }
    func path(_ name: String) -> String { tmp.appendingPathComponent(name).path }

    /// Runs `args`, expects one error line with `words`, and checks that the inputs are byte for byte unchanged and
    /// that no file appeared among them.
    func refuse(_ args: [String], _ words: String..., file: StaticString = #filePath, line: UInt = #line) throws {
        let before = try CLI.contents(of: tmp), imagesBefore = try CLI.contents(of: images)
        let r = try CLI.run(args)
        for w in words { XCTAssertOneErrorLine(r, w, file: file, line: line) }
        if words.isEmpty { XCTAssertOneErrorLine(r, file: file, line: line) }
        XCTAssertEqual(try CLI.contents(of: images), imagesBefore, "the input images changed", file: file, line: line)
        let after = try CLI.contents(of: tmp)
        for (name, data) in before { XCTAssertEqual(after[name], data, "\(name) changed", file: file, line: line) }
    }

    func testOutputsThatAreInputsAreRefusedBeforeAnythingIsWritten() throws {
        // The issue's cases: reconstructing a directory into itself, codes over the checkpoint, --raw over an image.
        try refuse(["reconstruct"] + model + [images.path, "--output", images.path], "--output would overwrite an input image directory")
        try refuse(["encode"] + model + [images.path, "--codes", checkpoint], "model.ckpt", "--codes would overwrite the checkpoint")
        try refuse(["reconstruct"] + model + [images.path, "--output", path("out"), "--raw", images.appendingPathComponent("astronaut.png").path],
                   "--raw would overwrite an input image")
        try refuse(["encode"] + model + [images.path, "--codes", path("codes.npy"), "--latents", config], "--latents would overwrite the config")
        // Another spelling of the same file (./, a symbolic link) is the same file.
        try FileManager.default.createSymbolicLink(atPath: path("link.ckpt"), withDestinationPath: checkpoint)
        try refuse(["encode"] + model + [images.path, "--codes", path("link.ckpt")], "would overwrite the checkpoint")
        try refuse(["encode"] + model + [images.path, "--codes", tmp.appendingPathComponent("./images/../model.ckpt").path],
                   "would overwrite the checkpoint")
        // An output directory that would receive a file named like an input in it.
        try refuse(["reconstruct"] + model + [images.appendingPathComponent("astronaut.png").path, "--output", images.path],
                   "would overwrite an input")
        // Two outputs on one path.
        try refuse(["reconstruct"] + model + [images.path, "--output", path("same"), "--originals", path("same")],
                   "is both --output and --originals")
        try refuse(["encode"] + model + [images.path, "--codes", path("c.npy"), "--latents", path("c.npy")], "is both --codes and --latents")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("same")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("out")))
    }

    func testArgumentAndInputErrorsAreOneLineNamingTheRightFile() throws {
        try refuse(["reconstruct"] + model + [images.path, "--output", path("o"), "--threads", "100000"], "--threads must be between 1 and 256")
        try refuse(["reconstruct"] + model + [images.path, "--output", path("o"), "--threads", "0"], "--threads")
        try refuse(["eval"] + model + [images.path, "--report", path("r"), "--threads", "0"], "--threads")
        try refuse(["reconstruct"] + model + [images.path, "--output", path("o"), "--batch-size", "0"], "--batch-size")
        try refuse(["reconstruct"] + model + [images.path], "--output")                       // a missing option
        try refuse(["reconstruct"] + model + [images.path, "--output", path("o"), "--conv-algorithm", "fast"], "fast")
        try refuse(["reconstruct"] + model + [images.path, "--output", path("o"), "--bogus"], "--bogus")
        // Files: the right one named, once, without Foundation's texts.
        try refuse(["decode"] + model + ["--codes", path("x.npy"), "--output", path("o")], "error: \(path("x.npy")): no such file")
        try refuse(["reconstruct", "--checkpoint", checkpoint, "--config", path("missing.yaml"), images.path, "--output", path("o")],
                   "error: \(path("missing.yaml")): no such file")
        try "model: [unclosed".write(toFile: path("bad.yaml"), atomically: true, encoding: .utf8)
        try refuse(["reconstruct", "--checkpoint", checkpoint, "--config", path("bad.yaml"), images.path, "--output", path("o")],
                   "bad.yaml")
        try Data("not a checkpoint".utf8).write(to: URL(fileURLWithPath: path("junk.ckpt")))
        try refuse(["reconstruct", "--checkpoint", path("junk.ckpt"), images.path, "--output", path("o")], "junk.ckpt: ")
        try Data().write(to: URL(fileURLWithPath: path("a-file")))
        try refuse(["reconstruct"] + model + [images.path, "--output", path("a-file")], "a-file: --output exists and is not a directory")
        try refuse(["reconstruct"] + model + [path("no-such-dir"), "--output", path("o")], "no-such-dir: no such file or directory")
        // Preset sizes: 0 refused with its reason; 7 is no multiple of this model's downsampling factor (4).
        try refuse(["reconstruct"] + model + [images.path, "--output", path("o"), "--preprocess", "ldm-vqgan@0"], "at least 1 pixel")
        try refuse(["reconstruct"] + model + [images.path, "--output", path("o"), "--preprocess", "ldm-vqgan@7"], "multiples of 4")
        try refuse(["reconstruct"] + model + [images.path, "--output", path("o"), "--preprocess", "nope"], "unknown preset 'nope'")
        // Nothing was created for any of these.
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("o")))
    }

    func testSizesFromInputsAreCheckedAgainstMemory() throws {
        // An 8 MB int64 [1, 1000, 1000] code file: 4000x4000 images whose attention would need terabytes.
        var npy = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        var header = Array("{'descr': '<i8', 'fortran_order': False, 'shape': (1, 1000, 1000), }".utf8)
        while (10 + header.count + 1) % 64 != 0 { header.append(0x20) }
        header.append(0x0A)
        npy.append(contentsOf: [UInt8(header.count & 0xff), UInt8(header.count >> 8)] + header)
        npy.append(Data(count: 8 * 1_000_000))
        try npy.write(to: URL(fileURLWithPath: path("big.npy")))
        try refuse(["decode"] + model + ["--codes", path("big.npy"), "--output", path("d")], "needs about", "more than the", "available")
        // A batch whose activations cannot fit.
        try refuse(["reconstruct"] + model + [images.path, "--output", path("o"), "--preprocess", "ldm-vqgan@16384", "--batch-size", "1024"],
                   "needs about", "--batch-size")
    }

    func testAnUnreadableImageStopsRowAlignedCommandsUnlessSkipped() throws {
        let good = images.appendingPathComponent("astronaut.png").path, good2 = images.appendingPathComponent("chelsea.png").path
        let truncated = path("truncated.png")
        try Data(try Data(contentsOf: URL(fileURLWithPath: good)).prefix(3000)).write(to: URL(fileURLWithPath: truncated))
        try refuse(["encode"] + model + [good, truncated, good2, "--codes", path("codes.npy")], "truncated.png")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("codes.npy")))
        let r = try CLI.run(["encode"] + model + [good, truncated, good2, "--codes", path("codes.npy"), "--skip-unreadable"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("warning: \(truncated)"), r.stderr)   // --quiet silences progress, not warnings
        XCTAssertEqual(try String(contentsOfFile: path("codes.files.txt"), encoding: .utf8), "\(good)\n\(good2)\n")
        XCTAssertEqual(try CLI.npyPayload(path("codes.npy")).count, 2 * 32 * 32 * 8)
        // reconstruct keeps skipping (its outputs are named) and says how many it skipped.
        let rec = try CLI.run(["reconstruct"] + model + [good, truncated, "--output", path("rec")])
        XCTAssertEqual(rec.status, 0, rec.stderr)
        XCTAssertTrue(rec.stderr.contains("1 of 2 images could not be read"), rec.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path("rec")), ["astronaut.png"])
    }

    func testInspectWarnsAboutCallablesTorchWouldRun() throws {
        let file = CLI.fixture("loader/hostile/rce_posix_system.pt")
        for json in [false, true] {
            let r = try CLI.run(["inspect", file] + (json ? ["--json"] : []))
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stderr.hasPrefix("warning: "), r.stderr)
            XCTAssertTrue(r.stderr.contains("posix.system") && r.stderr.contains("can execute code"), r.stderr)
            if json {
                let obj = try CLI.json(r.stdout)
                XCTAssertTrue((obj["unsafe_globals"] as? [String] ?? []).contains("posix.system"), r.stdout)
            }
        }
        // --strict refuses the file as before; a clean state dict has no warning.
        XCTAssertOneErrorLine(try CLI.run(["inspect", file, "--strict"]), "posix.system")
        let clean = try CLI.run(["inspect", CLI.fixture("loader/sd_small.pt"), "--json"])
        XCTAssertEqual(clean.status, 0, clean.stderr)
        XCTAssertEqual(clean.stderr, "")
        XCTAssertEqual(try CLI.json(clean.stdout)["unsafe_globals"] as? [String], [])
    }
}
