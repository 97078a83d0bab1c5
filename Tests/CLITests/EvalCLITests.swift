// `vqrt eval` and `vqrt merge`: a single run, the same run in three shards assigned by --shard, Slurm and Kubernetes
// variables then merged, and a run killed with SIGKILL then resumed: all three reports must agree.
// Inception weights are synthetic (inception-fixture v1) written as a safetensors file at test time.

import Foundation
import Models
import NN
import XCTest

final class EvalCLITests: XCTestCase {
    static var weights: String = {
        let path = NSTemporaryDirectory() + "vqrt-test-inception-\(getpid()).safetensors"
        try! writeSafetensors(InceptionWeights.synthetic(seed: 1), layout: InceptionWeights.stateDictLayout, to: path)
        return path
    }()

    var tmp: URL!
    override func setUpWithError() throws {
        tmp = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("vqrt-eval-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    var images: [String] {
        let dir = CLI.fixture("imaging/decode")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { ($0.hasSuffix(".png") || $0.hasSuffix(".jpg")) && !$0.hasPrefix("bad_") }.sorted().prefix(12)
            .map { (dir as NSString).appendingPathComponent($0) }
    }
    var model: [String] {
        ["--checkpoint", CLI.fixture("models/ldm-small/model.ckpt"), "--config", CLI.fixture("models/ldm-small/config.yaml"),
         "--inception", Self.weights, "--batch-size", "4", "--quiet"]
    }

    func report(_ dir: URL) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("report.json"))) as? [String: Any])
    }

    func assertSameScores(_ a: [String: Any], _ b: [String: Any], _ label: String) {
        func d(_ r: [String: Any], _ path: [String]) -> Double? {
            var cur: Any? = r
            for p in path { cur = (cur as? [String: Any])?[p] }
            return (cur as? NSNumber)?.doubleValue
        }
        for path in [["r_fid"], ["r_is", "mean"], ["r_is", "std"], ["psnr_db", "mean"], ["mse_model_space"],
                     ["codebook_usage", "usage"], ["codebook_usage", "perplexity"], ["quantisation_error"], ["images"]] {
            let x = d(a, path), y = d(b, path)
            XCTAssertNotNil(x, "\(label): \(path) missing")
            if let x, let y {
                // Shards change batch composition, and with it the float rounding inside the model and Inception
                // (~1e-8 relative seen on quantisation error); merging itself (Chan's update) adds ~1e-12.
                XCTAssertEqual(x, y, accuracy: 1e-6 * max(1, abs(x)), "\(label): \(path.joined(separator: "."))")
            } else {
                XCTFail("\(label): \(path) missing in one report")
            }
        }
    }

    func testShardedAndResumedRunsGiveTheSingleRunReport() throws {
        XCTAssertEqual(images.count, 12)
        let single = tmp.appendingPathComponent("single")
        var r = try CLI.run(["eval"] + model + images + ["--report", single.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let base = try report(single)
        XCTAssertEqual((base["images"] as? NSNumber)?.intValue, images.count)
        XCTAssertTrue(FileManager.default.fileExists(atPath: single.appendingPathComponent("report.md").path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: single.appendingPathComponent("worst_best_random.png").path))
        XCTAssertTrue(((base["r_fid"] as? NSNumber)?.doubleValue ?? -1) > 0)

        // Three shards: by flag, by Slurm array variables, by a Kubernetes indexed job.
        let sharded = tmp.appendingPathComponent("sharded")
        r = try CLI.run(["eval"] + model + images + ["--report", sharded.path, "--shard", "0/3"])
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try CLI.run(["eval"] + model + images + ["--report", sharded.path],
                        environment: ["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try CLI.run(["eval"] + model + images + ["--report", sharded.path, "--shard-count", "3"], environment: ["JOB_COMPLETION_INDEX": "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let parts = (0..<3).map { sharded.appendingPathComponent("partial-\($0)-of-3.npz").path }
        r = try CLI.run(["merge"] + parts + ["--report", sharded.path, "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        assertSameScores(base, try report(sharded), "merged shards")
        // A missing shard is refused.
        r = try CLI.run(["merge", parts[0], parts[2], "--report", tmp.appendingPathComponent("bad").path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.hasPrefix("error: "), r.stderr)

        // Kill -9 after the first saved batch, then resume with the same arguments.
        let resumed = tmp.appendingPathComponent("resumed")
        let p = Process()
        p.executableURL = CLI.binary
        p.arguments = ["eval"] + model + images + ["--report", resumed.path, "--save-every", "1"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let partial = resumed.appendingPathComponent("partial-0-of-1.npz").path
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: partial) && Date() < deadline && p.isRunning { usleep(20_000) }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        XCTAssertTrue(FileManager.default.fileExists(atPath: partial), "no partial state was saved before the kill")
        r = try CLI.run(["eval"] + model + images + ["--report", resumed.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        assertSameScores(base, try report(resumed), "killed and resumed")
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
