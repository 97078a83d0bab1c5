// `vqrt bench` run as a command (README: "prints one JSON object"; tools/bench reads these keys): its report is
// consistent with itself, its profile accounts for the time it reports, and misuse is refused before any compute.

import Foundation
import XCTest

final class BenchCLITests: XCTestCase {
    var model: [String] { ["--checkpoint", CLI.fixture("demo/demo-vqgan.ckpt"), "--config", CLI.fixture("demo/config.yaml")] }

    func testBenchReportsWhatItTimed() throws {
        let r = try CLI.run(["bench"] + model + ["--batch-size", "2", "--size", "64", "--repeats", "3", "--threads", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let j = try CLI.json(r.stdout)
        XCTAssertEqual(j["family"] as? String, "ldm-vqgan")
        XCTAssertEqual(j["batch"] as? Int, 2)
        XCTAssertEqual(j["size"] as? Int, 64)
        XCTAssertEqual(j["precision"] as? String, "fp32")
        XCTAssertEqual(j["conv_algorithm"] as? String, "winograd")
        let times = try XCTUnwrap(j["times"] as? [Double])
        XCTAssertEqual(times.count, 3, "one time per timed repeat")
        XCTAssertTrue(times.allSatisfy { $0 > 0 }, "\(times)")
        let median = try XCTUnwrap(j["batch_seconds_median"] as? Double)
        XCTAssertEqual(median, times.sorted()[1], accuracy: 1e-12, "the median of the timed repeats")
        let rate = try XCTUnwrap(j["images_per_second"] as? Double)
        XCTAssertEqual(rate, 2 / median, accuracy: 1e-9 * rate, "images per second = batch / median batch time")
        XCTAssertGreaterThan(try XCTUnwrap(j["peak_rss_mb"] as? Double), 1)
        XCTAssertGreaterThan(try XCTUnwrap(j["first_batch_seconds"] as? Double), 0)
    }

    func testProfileAccountsForTheTimedRuns() throws {
        let r = try CLI.run(["bench"] + model + ["--size", "64", "--repeats", "2", "--profile", "--conv-algorithm", "direct"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let j = try CLI.json(r.stdout)
        XCTAssertEqual(j["conv_algorithm"] as? String, "direct")
        let profile = try XCTUnwrap(j["profile"] as? [[String: Any]])
        let types = profile.compactMap { $0["type"] as? String }
        XCTAssertTrue(types.contains("conv"), "layer types: \(types)")
        let shares = profile.compactMap { $0["share"] as? Double }
        XCTAssertEqual(shares.count, profile.count)
        XCTAssertTrue(shares.allSatisfy { $0 >= 0 && $0 <= 1 }, "\(shares)")
        // The convolutions do most of a VQGAN's work.
        let conv = try XCTUnwrap(profile.first { $0["type"] as? String == "conv" })
        XCTAssertGreaterThan(try XCTUnwrap(conv["gflops"] as? Double), 0)
        XCTAssertGreaterThan(try XCTUnwrap(conv["share"] as? Double), 0.3, "\(profile)")
        XCTAssertTrue(r.stderr.contains("by layer type:"), "the human-readable profile goes to stderr")
    }

    func testMisuseIsOneErrorLine() throws {
        XCTAssertOneErrorLine(try CLI.run(["bench"] + model + ["--repeats", "0"]), "--repeats")
        XCTAssertOneErrorLine(try CLI.run(["bench"] + model + ["--batch-size", "0"]), "--batch-size")
        XCTAssertOneErrorLine(try CLI.run(["bench"] + model + ["--size", "7"]), "7")
        XCTAssertOneErrorLine(try CLI.run(["bench", "--checkpoint", "/nonexistent/model.ckpt"]), "/nonexistent/model.ckpt")
    }
}
