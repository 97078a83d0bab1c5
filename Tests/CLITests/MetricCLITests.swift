// The metric commands run as commands, against the reference tools' numbers on the same image files and weights
// (Fixtures/inception/cli.json, tools/make_cli_metric_fixtures.py: pytorch-fid and pytorch-image-generation-
// metrics with the seed-1 fixture weights). Each tolerance is 4x PyTorch's own float32-vs-float64 error on that
// number (the references carry both), the rule the model tests follow.

import Foundation
import NPY
import Pipeline
import XCTest

final class MetricCLITests: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws { tmp = try CLI.temporaryDirectory("metrics") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    lazy var reference: [String: Any] = {
        (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: CLI.fixture("inception/cli.json"))))) as? [String: Any] ?? [:]
    }()
    var weights: [String] { ["--inception", CLI.inceptionWeights(seed: 1), "--quiet"] }

    /// A directory holding the named fixture images.
    func set(_ name: String) throws -> String {
        let dir = tmp.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for f in (reference["sets"] as? [String: [String]])?[name] ?? [] {
            try FileManager.default.copyItem(atPath: CLI.fixture("inception/images/\(f)"), toPath: dir.appendingPathComponent(f).path)
        }
        return dir.path
    }

    func doubles(_ object: Any?, _ key: String) -> [Double] { ((object as? [String: Any])?[key] as? [NSNumber] ?? []).map(\.doubleValue) }
    func number(_ object: Any?, _ key: String) throws -> Double {
        try XCTUnwrap(((object as? [String: Any])?[key] as? NSNumber)?.doubleValue, key)
    }

    /// `ours` within 4x PyTorch's own float32 error (`f32` vs `f64`) of the float64 value, element by element.
    func assertWithinTorchError(_ ours: [Double], f32: [Double], f64: [Double], _ label: String, floor: Double = 0) {
        XCTAssertEqual(ours.count, f64.count, label)
        XCTAssertFalse(ours.isEmpty, label)
        let torch = zip(f32, f64).map { abs($0 - $1) }.max() ?? 0
        let mine = zip(ours, f64).map { abs($0 - $1) }.max() ?? .infinity
        print("\(label): vqrt vs float64 \(mine), PyTorch float32 vs float64 \(torch)")
        XCTAssertLessThanOrEqual(mine, max(4 * torch, floor), label)
    }

    func testFeaturesMatchPytorchFid() throws {
        let out = tmp.appendingPathComponent("f.npz").path
        let r = try CLI.run(["features"] + weights + [CLI.fixture("inception/images"), "--output", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "")
        // pool3 rows against pytorch-fid's get_activations (and the float64 network), in the directory's order.
        let archive = try NPZ.read(path: out)
        let pool3 = try archive.array("pool3").floats()
        let torch32 = try CLI.floats(CLI.fixture("inception/seed1/pool3.npy")).map(Double.init)
        let torch64 = try CLI.npyPayload(CLI.fixture("inception/seed1/pool3_f64.npy")).withUnsafeBytes { raw in
            (0..<(raw.count / 8)).map { raw.loadUnaligned(fromByteOffset: $0 * 8, as: Double.self) }
        }
        assertWithinTorchError(pool3.map(Double.init), f32: torch32, f64: torch64, "features pool3")
        XCTAssertEqual(try archive.array("files").strings().map { ($0 as NSString).lastPathComponent },
                       (reference["fid_stats_all"] as? [String: Any])?["files"] as? [String])
    }

    func testFIDStatsFIDAndISMatchTheReferenceTools() throws {
        // fid-stats: pytorch-fid's statistics of the same files.
        let all = CLI.fixture("inception/images"), stats = tmp.appendingPathComponent("all.npz").path
        var r = try CLI.run(["fid-stats"] + weights + [all, "--output", stats])
        XCTAssertEqual(r.status, 0, r.stderr)
        let s = try GaussianStatisticsFile(stats)
        let ref = reference["fid_stats_all"]
        assertWithinTorchError(s.mu, f32: doubles(ref, "mu"), f64: doubles(ref, "mu_f64"), "fid-stats mu")
        assertWithinTorchError(s.diagonal, f32: doubles(ref, "sigma_diagonal"), f64: doubles(ref, "sigma_diagonal_f64"), "fid-stats sigma diagonal")
        assertWithinTorchError(s.row0, f32: doubles(ref, "sigma_row0"), f64: doubles(ref, "sigma_row0_f64"), "fid-stats sigma row 0")

        // fid between two directories, and between the statistics files of the same directories: one number.
        let a = try set("a"), b = try set("b")
        r = try CLI.run(["fid"] + weights + [a, b, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try CLI.json(r.stdout)
        let fid = try XCTUnwrap((json["fid"] as? NSNumber)?.doubleValue)
        XCTAssertEqual((json["n_a"] as? NSNumber)?.intValue, 5)
        let f = reference["fid"]
        let exact32 = try number(f, "exact_from_pytorch_fid_features"), exact64 = try number(f, "exact_from_float64_network")
        print("fid: vqrt \(fid), exact from pytorch-fid's features \(exact32), float64 \(exact64), pytorch-fid \(try number(f, "pytorch_fid"))")
        XCTAssertEqual(fid, exact64, accuracy: 4 * abs(exact32 - exact64) + 1e-12 * exact64)
        for (dir, name) in [(a, "a.npz"), (b, "b.npz")] {
            XCTAssertEqual(try CLI.run(["fid-stats"] + weights + [dir, "--output", tmp.appendingPathComponent(name).path]).status, 0)
        }
        r = try CLI.run(["fid", tmp.appendingPathComponent("a.npz").path, tmp.appendingPathComponent("b.npz").path, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual((try CLI.json(r.stdout)["fid"] as? NSNumber)?.doubleValue, fid)

        // is: PIGM's Inception Score with 3 splits.
        r = try CLI.run(["is"] + weights + [all, "--splits", "3", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let score = try CLI.json(r.stdout)
        let isRef = reference["is"]
        let mean = try XCTUnwrap((score["is_mean"] as? NSNumber)?.doubleValue), std = try XCTUnwrap((score["is_std"] as? NSNumber)?.doubleValue)
        XCTAssertEqual(mean, try number(isRef, "float64_mean"), accuracy: 4 * abs(try number(isRef, "pigm_mean") - number(isRef, "float64_mean")) + 1e-12)
        XCTAssertEqual(std, try number(isRef, "float64_std"), accuracy: 4 * abs(try number(isRef, "pigm_std") - number(isRef, "float64_std")) + 1e-12)
    }

    func testMetricCommandsCheckBothSetsBeforeComputing() throws {
        // `fid A missing`: refused before A is computed. The Inception file is not even a checkpoint: had A been
        // computed first, the error would name it instead.
        let notWeights = tmp.appendingPathComponent("junk.pth").path
        try Data("junk".utf8).write(to: URL(fileURLWithPath: notWeights))
        XCTAssertOneErrorLine(try CLI.run(["fid", "--inception", notWeights, CLI.fixture("inception/images"), tmp.appendingPathComponent("missing").path]),
                              "missing: no such file or directory")
        XCTAssertOneErrorLine(try CLI.run(["fid", "--inception", tmp.appendingPathComponent("none.pth").path, CLI.fixture("inception/images"),
                                           CLI.fixture("inception/images")]), "none.pth", "pt_inception-2015-12-05-6726825d.pth")
        XCTAssertOneErrorLine(try CLI.run(["is"] + weights + [CLI.fixture("inception/images"), "--splits", "10"]), "needs at least 10 images")
        XCTAssertOneErrorLine(try CLI.run(["fid-stats"] + weights + [CLI.fixture("inception/images/a_noise_64.png"), "--output", tmp.appendingPathComponent("x.npz").path]),
                              "at least 2 images")
    }
}

/// The parts of a statistics file the test compares (mu, sigma's diagonal and first row).
struct GaussianStatisticsFile {
    let mu: [Double], diagonal: [Double], row0: [Double]
    init(_ path: String) throws {
        let a = try NPZ.read(path: path)
        mu = try a.array("mu").doubles()
        let sigma = try a.array("sigma").doubles()
        let d = mu.count
        diagonal = (0..<d).map { sigma[$0 * d + $0] }
        row0 = Array(sigma[0..<d])
    }
}
