// The command-line contract of `vqrt inspect` (spec/cli.md): JSON on stdout, one `error:` line on bad input.

import Foundation
import XCTest

final class InspectCLITests: XCTestCase {
    func testJSONIsOneObjectWithTheContractKeys() throws {
        let r = try CLI.run(["inspect", CLI.fixture("loader/table1_rt.pth"), "--json", "--tensors"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        for key in ["format", "family", "config", "parameters", "tensors", "metadata", "classes", "ignored", "dtypes"] {
            XCTAssertNotNil(obj[key], "missing \(key)")
        }
        XCTAssertEqual(obj["format"] as? String, "zip")
        XCTAssertEqual(obj["family"] as? String, "rt-vqvae")
        let tensors = try XCTUnwrap(obj["tensors"] as? [[String: Any]])
        XCTAssertEqual(tensors.count, 44)
        XCTAssertNotNil(tensors.first?["sha256"] as? String)
        XCTAssertTrue((obj["classes"] as? [String] ?? []).contains("src.train_utils.schedulers.WarmupCosineFlatSchedule"))
    }

    func testHumanReadableSummary() throws {
        let r = try CLI.run(["inspect", CLI.fixture("loader/pl_last.ckpt")])
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.stdout.contains("format: zip"))
        XCTAssertTrue(r.stdout.contains("pytorch-lightning_version"))
    }

    func testBadInputIsOneErrorLineNamingTheFile() throws {
        for (file, words) in [("loader/hostile/duplicate_data_pkl.pt", "duplicate"), ("pickle/does-not-exist.pt", "no such file"),
                              ("loader/hostile/random_bytes.bin", "not a PyTorch checkpoint")] {
            let r = try CLI.run(["inspect", CLI.fixture(file)])
            XCTAssertNotEqual(r.status, 0, file)
            XCTAssertEqual(r.stdout, "", file)
            let lines = r.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "\(file): \(r.stderr)")
            XCTAssertTrue(lines.first?.hasPrefix("error: \(CLI.fixture(file)): ") ?? false, r.stderr)
            XCTAssertTrue(r.stderr.contains(words), "\(file): \(r.stderr)")
        }
    }
}
