// The README's Slurm array example on a real (private, single-node) Slurm: tools/slurm-eval starts munged,
// slurmctld and slurmd (tools/slurm-local), submits the README's `sbatch --array` script with 3 tasks over a
// directory of 12 images, requeues one task the moment it starts and another once it has saved partial state
// (`scontrol requeue`: the running task is killed and runs again), then `vqrt merge`s the shards. The merged
// report must be the single run's: per-image PSNRs (float64, from the 8-bit reconstructions) and the picture of
// worst/best/random images bit for bit, every number of report.json within 1e-9 relative, every image counted once.
// Batches of one image make each image's arithmetic the same in both runs whatever the shard boundaries.
// Skipped, with the reason printed, only where Slurm cannot start (not installed, not root: tools/slurm-local
// exits 77); CI installs it (.ci/run: tools/install-deps --slurm).

import Foundation
import Models
import NN
import NPY
import XCTest

final class SlurmEvalTests: XCTestCase {
    static let binary = Bundle.main.bundleURL.appendingPathComponent("vqrt")
    static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { url.deleteLastPathComponent() }
        return url
    }()
    static func fixture(_ path: String) -> String { packageRoot.appendingPathComponent("Fixtures").appendingPathComponent(path).path }

    var tmp: URL!
    override func setUpWithError() throws {
        tmp = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("vqrt-slurm-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    struct Run { let status: Int32; let stdout: String; let stderr: String }

    /// Runs `executable` with its output in files (no pipe to fill up while we wait).
    func run(_ executable: String, _ args: [String]) throws -> Run {
        let out = tmp.appendingPathComponent("out-\(UUID().uuidString)"), err = tmp.appendingPathComponent("err-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        try p.run()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, stdout: try String(contentsOf: out, encoding: .utf8),
                   stderr: try String(contentsOf: err, encoding: .utf8))
    }

    func testREADMEArrayJobWithRequeuedTasksMergesToTheSingleRunReport() throws {
        // A directory of images: the 4 demo photos and 8 decoder fixtures of other formats and sizes (12: enough for
        // the Inception Score's 10 splits).
        let images = tmp.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        let sources = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.png"].map { Self.fixture("demo/images/" + $0) }
            + ["rgb8.png", "rgb16.png", "rgb_420.jpg", "rgb_progressive.jpg", "palette4.png", "palette8.png", "gray8.png",
               "rgba8.png"].map { Self.fixture("imaging/decode/" + $0) }
        for s in sources {
            try FileManager.default.copyItem(atPath: s, toPath: images.appendingPathComponent((s as NSString).lastPathComponent).path)
        }
        let weights = tmp.appendingPathComponent("inception.safetensors").path
        try writeSafetensors(InceptionWeights.synthetic(seed: 1), layout: InceptionWeights.stateDictLayout, to: weights)
        let model = ["--checkpoint", Self.fixture("demo/demo-vqgan.ckpt"), "--config", Self.fixture("demo/config.yaml"),
                     "--inception", weights]
        // Each task saves after its second image (and at its end), so the task requeued once it has saved is killed
        // with half of its shard still to do.
        let perTask = ["--batch-size", "1", "--save-every", "2"]

        // Slurm first: where it cannot start there is nothing to compare.
        let sharded = tmp.appendingPathComponent("sharded")
        let slurm = try run(Self.packageRoot.appendingPathComponent("tools/slurm-eval").path,
                            ["--vqrt", Self.binary.path, "--tasks", "3", "--requeue-running", "2", "--requeue-saved", "1"]
                                + model + [images.path, sharded.path, "--"] + perTask)
        if slurm.status == 77 {
            let reason = slurm.stderr.split(separator: "\n").last { $0.contains("cannot start Slurm") } ?? "tools/slurm-local exited 77"
            print("SlurmEvalTests skipped: \(reason)")
            throw XCTSkip(String(reason))
        }
        XCTAssertEqual(slurm.status, 0, slurm.stderr)
        guard slurm.status == 0 else { return }
        print(slurm.stderr.split(separator: "\n").filter { $0.hasPrefix("slurm-eval:") }.joined(separator: "\n"))

        // Both requeued tasks ran again, and the one killed mid-shard resumed from its partial file.
        for task in [1, 2] {
            let line = slurm.stderr.split(separator: "\n").first { $0.hasPrefix("slurm-eval: task \(task): ") }
            XCTAssertNotNil(line, "no status line for task \(task)")
            XCTAssertTrue(line?.hasSuffix("restarts 0") == false, "task \(task) was not requeued: \(line ?? "")")
        }
        let logs = try FileManager.default.contentsOfDirectory(atPath: sharded.path).filter { $0.hasPrefix("slurm-") && $0.hasSuffix("_1.out") }
        XCTAssertEqual(logs.count, 1)
        let log1 = try logs.first.map { try String(contentsOfFile: sharded.appendingPathComponent($0).path, encoding: .utf8) } ?? ""
        XCTAssertTrue(log1.contains("DUE TO JOB REQUEUE"), "task 1 was not killed by the requeue:\n\(log1)")
        XCTAssertTrue(log1.lowercased().contains("resum"), "task 1 did not resume from its partial state:\n\(log1)")

        // The single run, same per-image arithmetic (batches of one, one thread as each task has).
        let single = tmp.appendingPathComponent("single")
        let r = try run(Self.binary.path, ["eval"] + model + [images.path, "--report", single.path, "--threads", "1", "--batch-size", "1", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)

        let a = try reportJSON(single), b = try reportJSON(sharded)
        XCTAssertEqual((a["images"] as? NSNumber)?.intValue, 12)
        XCTAssertEqual((b["images"] as? NSNumber)?.intValue, 12, "the merge counted some image twice or not at all")
        assertSameNumbers(a, b, path: "report.json")

        // Per-image outputs, bit for bit: PSNR of each 8-bit reconstruction (in input order) and the picture.
        let singlePSNR = try NPZ.read(path: single.appendingPathComponent("partial-0-of-1.npz").path, only: ["per_image_psnr"])
            .array("per_image_psnr", file: "single").doubles()
        var shardPSNR: [Double] = []
        for k in 0..<3 {
            shardPSNR += try NPZ.read(path: sharded.appendingPathComponent("partial-\(k)-of-3.npz").path, only: ["per_image_psnr"])
                .array("per_image_psnr", file: "shard \(k)").doubles()
        }
        XCTAssertEqual(singlePSNR.count, 12)
        XCTAssertEqual(singlePSNR.map(\.bitPattern), shardPSNR.map(\.bitPattern), "per-image PSNR differs: \(singlePSNR) vs \(shardPSNR)")
        let pictureA = try Data(contentsOf: single.appendingPathComponent("worst_best_random.png"))
        let pictureB = try Data(contentsOf: sharded.appendingPathComponent("worst_best_random.png"))
        XCTAssertFalse(pictureA.isEmpty)
        XCTAssertEqual(pictureA, pictureB, "worst_best_random.png differs")
    }

    func reportJSON(_ dir: URL) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("report.json"))) as? [String: Any])
    }

    /// Every number of `a` and `b` (float64 within 1e-9 relative or 1e-12 absolute, integers exactly), every string and flag, the
    /// same keys; timings and the shard count are a run's own.
    func assertSameNumbers(_ a: Any, _ b: Any, path: String) {
        func runSpecific(_ key: String) -> Bool {
            key == "shards" || key.contains("seconds") || key.contains("per_second") || key.contains("timing") || key.contains("wall")
        }
        switch (a, b) {
        case let (x as [String: Any], y as [String: Any]):
            let keysA = Set(x.keys.filter { !runSpecific($0) }), keysB = Set(y.keys.filter { !runSpecific($0) })
            XCTAssertEqual(keysA, keysB, "\(path): different keys")
            for k in keysA.intersection(keysB).sorted() { assertSameNumbers(x[k]!, y[k]!, path: path + "." + k) }
        case let (x as [Any], y as [Any]):
            XCTAssertEqual(x.count, y.count, "\(path): different lengths")
            for (i, (u, v)) in zip(x, y).enumerated() { assertSameNumbers(u, v, path: "\(path)[\(i)]") }
        case let (x as NSNumber, y as NSNumber):
            func isFloat(_ n: NSNumber) -> Bool { ["f", "d"].contains(String(cString: n.objCType)) }
            if isFloat(x) || isFloat(y) {
                let u = x.doubleValue, v = y.doubleValue
                // KID (and FID) of two nearly identical sets is a difference of sums of terms of order one, so
                // its summation-order rounding is absolute (~1e-15), not relative to a result near zero.
                XCTAssertTrue(u == v || abs(u - v) <= max(1e-9 * max(abs(u), abs(v)), 1e-12),
                              "\(path): \(u) vs \(v) (relative \(abs(u - v) / max(abs(u), abs(v))))")
            } else {
                XCTAssertEqual(x, y, "\(path)")
            }
        case let (x as String, y as String):
            XCTAssertEqual(x, y, "\(path)")
        case (is NSNull, is NSNull):
            break
        default:
            XCTFail("\(path): \(a) vs \(b)")
        }
    }
}

/// A float32 safetensors file of `source`'s tensors in `layout` order (as Tests/CLITests writes Inception weights).
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
