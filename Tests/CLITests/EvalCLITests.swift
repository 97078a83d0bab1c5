// `vqrt eval` and `vqrt merge`: a single run; the same images in three uneven shards (assigned by --shard, Slurm
// and Kubernetes variables, with shard boundaries inside batches) merged; a run killed with SIGKILL after saving
// part of its work and resumed: all give the single run's report (float64 accumulators within 1e-9, per-image
// values and KID bitwise: KID's feature rows are merged by concatenation). The runs carry every paper metric (both
// protocols, SSIM, LPIPS, KID). A report directory holding another run's state is refused; an unreadable image
// stops the run. Inception and LPIPS weights are synthetic (inception-fixture v1, lpips-backbone v1) written as
// safetensors files at test time.

import Foundation
import Models
import NN
import Pipeline
import XCTest

final class EvalCLITests: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws { tmp = try CLI.temporaryDirectory("eval") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    /// 11 images: three shards of 3, 4 and 4, none a whole number of batches of 2.
    let images = Array(CLI.goodImages.prefix(11))
    var model: [String] {
        ["--checkpoint", CLI.fixture("models/ldm-small/model.ckpt"), "--config", CLI.fixture("models/ldm-small/config.yaml"),
         "--inception", CLI.inceptionWeights(), "--batch-size", "2",
         "--protocols", "pytorch-fid,torch-fidelity", "--backbone", CLI.lpipsBackbone(), "--kid-subsets", "10"]
    }

    func report(_ dir: URL) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("report.json"))) as? [String: Any])
    }

    static let scores = [["r_fid"], ["r_is", "mean"], ["r_is", "std"], ["psnr_db", "mean"], ["psnr_db", "pooled"], ["mse_model_space"],
                         ["codebook_usage", "usage"], ["codebook_usage", "perplexity"], ["codebook_usage", "entropy_bits"],
                         ["quantisation_error"], ["images"], ["fid", "pytorch-fid"], ["fid", "torch-fidelity"],
                         ["ssim", "torchmetrics"], ["ssim", "pytorch-msssim"], ["ssim", "skimage"], ["ssim", "llamagen"], ["lpips", "mean"]]
    /// KID is computed from the same feature rows in the same order however the run was split: the same bits.
    static let exactScores = [["kid", "pytorch-fid", "mean"], ["kid", "pytorch-fid", "std"], ["kid", "torch-fidelity", "mean"],
                              ["kid", "torch-fidelity", "std"]]

    /// Every score equal to 1e-9 relative (float64 accumulators merged in another order), KID bitwise, the run's
    /// identity equal.
    func assertSameScores(_ a: [String: Any], _ b: [String: Any], _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        func d(_ r: [String: Any], _ path: [String]) -> Double? {
            var cur: Any? = r
            for p in path { cur = (cur as? [String: Any])?[p] }
            return (cur as? NSNumber)?.doubleValue
        }
        for path in Self.scores {
            guard let x = d(a, path), let y = d(b, path) else { XCTFail("\(label): \(path) missing", file: file, line: line); continue }
            XCTAssertEqual(x, y, accuracy: 1e-9 * max(1, abs(x)), "\(label): \(path.joined(separator: "."))", file: file, line: line)
        }
        for path in Self.exactScores {
            guard let x = d(a, path), let y = d(b, path) else { XCTFail("\(label): \(path) missing", file: file, line: line); continue }
            XCTAssertEqual(x, y, "\(label): \(path.joined(separator: ".")) (KID from the same rows)", file: file, line: line)
        }
        XCTAssertEqual(a["run_id"] as? String, b["run_id"] as? String, label, file: file, line: line)
    }

    func picture(_ dir: URL) throws -> Data {
        try Data(contentsOf: dir.appendingPathComponent("worst_best_random.png"))
    }

    /// The per-image values (PSNR, each SSIM, LPIPS) of the partial files in `dir`, in image order.
    func perImagePSNR(_ paths: [String]) throws -> [[Double]] {
        let states = try paths.map { try EvalState(path: $0) }.sorted { $0.meta.start < $1.meta.start }
        var out = [states.flatMap(\.perImagePSNR), states.flatMap(\.perImageLPIPS)]
        for i in SSIMDefinitions.all.indices { out.append(states.flatMap { $0.perImageSSIM[i] }) }
        XCTAssertTrue(out.allSatisfy { $0.count == states.reduce(0) { $0 + $1.meta.processed } })
        return out
    }

    func testShardedRunsMergeIntoTheSingleRunsReport() throws {
        XCTAssertEqual(images.count, 11)
        let single = tmp.appendingPathComponent("single")
        var r = try CLI.run(["eval"] + model + images + ["--report", single.path, "--quiet", "--timing"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("timing: wall "), r.stderr)
        let base = try report(single)
        XCTAssertEqual((base["images"] as? NSNumber)?.intValue, images.count)
        for f in ["report.md", "worst_best_random.png", "partial-0-of-1.npz"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: single.appendingPathComponent(f).path), f)
        }
        XCTAssertTrue(((base["r_fid"] as? NSNumber)?.doubleValue ?? -1) > 0)
        XCTAssertTrue(try String(contentsOf: single.appendingPathComponent("report.md"), encoding: .utf8).contains("lowest PSNR"))

        // Three shards (3, 4, 4 images): by flag, by Slurm array variables, by a Kubernetes indexed job.
        let sharded = tmp.appendingPathComponent("sharded")
        r = try CLI.run(["eval"] + model + images + ["--report", sharded.path, "--shard", "0/3", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try CLI.run(["eval"] + model + images + ["--report", sharded.path, "--quiet"],
                        environment: ["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try CLI.run(["eval"] + model + images + ["--report", sharded.path, "--shard-count", "3", "--quiet"],
                        environment: ["JOB_COMPLETION_INDEX": "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let parts = (0..<3).map { sharded.appendingPathComponent("partial-\($0)-of-3.npz").path }
        XCTAssertEqual(try parts.map { try EvalState.meta(at: $0).processed }, [3, 4, 4])
        r = try CLI.run(["merge"] + parts + ["--report", sharded.path, "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        assertSameScores(base, try report(sharded), "merged shards")
        // Per-image results are the same bits whatever shard and batch an image fell in.
        XCTAssertEqual(try perImagePSNR(parts), try perImagePSNR([single.appendingPathComponent("partial-0-of-1.npz").path]))
        // The single run drew its picture from the images it kept during the run; the merge reconstructs them.
        XCTAssertEqual(try picture(single), try picture(sharded), "worst_best_random.png differs")
        for key in ["model_seconds", "inception_seconds"] {
            XCTAssertGreaterThan((base[key] as? NSNumber)?.doubleValue ?? 0, 0, key)
        }
        // A missing shard is refused.
        XCTAssertOneErrorLine(try CLI.run(["merge", parts[0], parts[2], "--report", tmp.appendingPathComponent("bad").path]), "missing")
    }

    func testAKilledRunResumesWhereItsLastSaveLeftOff() throws {
        let single = tmp.appendingPathComponent("single")
        var r = try CLI.run(["eval"] + model + images + ["--report", single.path, "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)

        // Kill -9 once the first batch is saved (one image per batch, one thread: slow enough to be caught mid-run).
        let resumed = tmp.appendingPathComponent("resumed")
        let p = Process()
        p.executableURL = CLI.binary
        p.arguments = ["eval"] + model + images + ["--report", resumed.path, "--save-every", "1", "--batch-size", "1", "--threads", "1", "--quiet"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let partial = resumed.appendingPathComponent("partial-0-of-1.npz").path
        while !FileManager.default.fileExists(atPath: partial) && p.isRunning { usleep(5_000) }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .uncaughtSignal, "the run finished before it could be killed")
        let saved = try EvalState.meta(at: partial).processed
        XCTAssertGreaterThan(saved, 0)
        XCTAssertLessThan(saved, images.count, "the killed run had already evaluated everything")
        // Feature rows a run killed between a batch and its save leaves past the saved count are cut off on resume
        // (else KID would count them): three rows of junk after each file's saved rows.
        let rowFiles = try FileManager.default.contentsOfDirectory(atPath: resumed.path).filter { $0.hasSuffix(".npy") }.sorted()
        XCTAssertEqual(rowFiles.count, 4, "\(rowFiles)")
        for name in rowFiles {
            let h = try FileHandle(forWritingTo: resumed.appendingPathComponent(name))
            try h.truncate(atOffset: UInt64(128 + saved * 2048 * 4))
            try h.seekToEnd()
            try h.write(contentsOf: Data(repeating: 0x47, count: 3 * 2048 * 4))
            try h.close()
        }
        // A temporary file a killed save could leave behind is removed on resume.
        let leftover = resumed.appendingPathComponent(".partial-0-of-1.npz.tmp-99999-1").path
        try Data("half a save".utf8).write(to: URL(fileURLWithPath: leftover))

        r = try CLI.run(["eval"] + model + images + ["--report", resumed.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("resuming: \(saved) of \(images.count) images already evaluated"), r.stderr)
        XCTAssertTrue(r.stderr.contains("evaluated \(images.count - saved) image(s) in this run"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: leftover))
        assertSameScores(try report(single), try report(resumed), "killed and resumed")
        XCTAssertEqual(try perImagePSNR([partial]), try perImagePSNR([single.appendingPathComponent("partial-0-of-1.npz").path]))
        // Each feature-row file holds exactly one row per image, the single run's rows.
        for name in rowFiles {
            let rows = try Data(contentsOf: resumed.appendingPathComponent(name))
            XCTAssertEqual(rows.count, 128 + images.count * 2048 * 4, name)
            XCTAssertEqual(try CLI.floats(resumed.appendingPathComponent(name).path), try CLI.floats(single.appendingPathComponent(name).path), name)
        }
        // The resumed process kept only the images it saw; the others are reconstructed for the picture.
        XCTAssertEqual(try picture(single), try picture(resumed), "worst_best_random.png differs")

        // The same arguments on a finished run compute nothing more.
        r = try CLI.run(["eval"] + model + images + ["--report", resumed.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("evaluated 0 image(s) in this run"), r.stderr)
    }

    func testAnotherRunsStateIsRefusedUnlessRestarted() throws {
        let dir = tmp.appendingPathComponent("run")
        let few = Array(images.prefix(4))
        var r = try CLI.run(["eval"] + model + few + ["--report", dir.path, "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let before = try CLI.contents(of: dir)
        // One option that changes results, another image list, a shard split of the same run: each refused, the
        // finished state untouched.
        XCTAssertOneErrorLine(try CLI.run(["eval"] + model + few + ["--report", dir.path, "--conv-algorithm", "direct"]),
                              "holds the state of another run", "--conv-algorithm winograd there, direct here", "--restart")
        XCTAssertOneErrorLine(try CLI.run(["eval"] + model + Array(images.prefix(5)) + ["--report", dir.path]), "a list of 4 images there, another of 5 here")
        XCTAssertOneErrorLine(try CLI.run(["eval"] + model + few + ["--report", dir.path, "--shard", "0/2"]), "split into 1 shard(s)")
        XCTAssertOneErrorLine(try CLI.run(["eval"] + model + few + ["--report", dir.path, "--protocols", "pytorch-fid"]),
                              "--protocols pytorch-fid,torch-fidelity there, pytorch-fid here")
        XCTAssertOneErrorLine(try CLI.run(["eval"] + model + few + ["--report", dir.path, "--kid-subset-size", "3"]),
                              "--kid-subset-size default there, 3 here")
        XCTAssertEqual(try CLI.contents(of: dir), before)
        // --restart discards it on purpose.
        r = try CLI.run(["eval"] + model + few + ["--report", dir.path, "--conv-algorithm", "direct", "--restart", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(((try report(dir))["model"] as? [String: Any])?["conv_algorithm"] as? String, "direct")
    }

    func testAnUnreadableImageStopsTheEvaluation() throws {
        let dir = tmp.appendingPathComponent("bad")
        XCTAssertOneErrorLine(try CLI.run(["eval"] + model + [images[0], CLI.fixture("imaging/decode/bad_truncated.png"), images[1]]
                                          + ["--report", dir.path, "--quiet"]), "bad_truncated.png")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("report.json").path))
        // Checks made before any compute: too few images for a covariance.
        XCTAssertOneErrorLine(try CLI.run(["eval"] + model + images + ["--report", dir.path, "--limit", "1"]), "--limit must be at least 2")
    }
}

/// A float32 safetensors file of `source`'s tensors in `layout` order.
func writeSafetensors(_ source: WeightSource, layout: [(name: String, shape: [Int])], to path: String) throws {
    var header: [String] = []
    var data = Data()
    for (name, shape) in layout {
        guard let t = try source.tensor(named: name) else { continue }
        let start = data.count
        t.values.withUnsafeBufferPointer { data.append(UnsafeBufferPointer(start: UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: UInt8.self), count: $0.count * 4)) }
        header.append("\"\(name)\":{\"dtype\":\"F32\",\"shape\":[\(shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(start),\(data.count)]}")
    }
    var json = Array(("{" + header.joined(separator: ",") + "}").utf8)
    while json.count % 8 != 0 { json.append(0x20) }
    var file = Data(withUnsafeBytes(of: UInt64(json.count).littleEndian, Array.init))
    file.append(contentsOf: json)
    file.append(data)
    try file.write(to: URL(fileURLWithPath: path))
}
