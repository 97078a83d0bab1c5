// The metrics issue's commands run as commands, on the files and weights of Fixtures/paper_metrics, against the
// reference packages' numbers recorded there by tools/make_metric_fixtures.py (torchmetrics, pytorch-msssim,
// scikit-image, lpips, torch-fidelity), at the tolerances: SSIM 1e-6 and LPIPS 1e-5 relative to the
// packages' float64 runs, KID 1e-6, torch-fidelity's pool3 features 1e-4 row-relative. Then `eval` and `compare`
// reports with every paper metric, checked against the single-metric commands on the same images; and bad input.

import Foundation
import Models
import NN
import NPY
import Pipeline
import XCTest

final class PaperMetricsCLITests: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws { tmp = try CLI.temporaryDirectory("paper-metrics") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    static func fixture(_ name: String) throws -> [String: Any] {
        try CLI.json(try String(contentsOfFile: CLI.fixture("paper_metrics/\(name)"), encoding: .utf8))
    }

    /// The fixture pairs as two folders: A/<name>.png (reference), B/<name>.PNG (distorted; matched by the name
    /// without its extension). Returns the folders and the pair names in the fixture's order.
    func pairFolders() throws -> (a: String, b: String, names: [String]) {
        let names = try XCTUnwrap(try Self.fixture("lpips.json")["pairs"] as? [String])
        let a = tmp.appendingPathComponent("A"), b = tmp.appendingPathComponent("B")
        for d in [a, b] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true) }
        for n in names {
            try FileManager.default.copyItem(atPath: CLI.fixture("paper_metrics/images/\(n)_ref.png"), toPath: a.appendingPathComponent("\(n).png").path)
            try FileManager.default.copyItem(atPath: CLI.fixture("paper_metrics/images/\(n)_dist.png"), toPath: b.appendingPathComponent("\(n).PNG").path)
        }
        return (a.path, b.path, names)
    }

    func runJSON(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let r = try CLI.run(args + ["--json"])
        XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
        XCTAssertFalse(r.stderr.contains("error:"), r.stderr, file: file, line: line)
        return try CLI.json(r.stdout)
    }

    func assertRelative(_ x: Double?, _ want: Double, _ rel: Double, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let x else { return XCTFail("\(label): missing", file: file, line: line) }
        XCTAssertLessThanOrEqual(abs(x - want), rel * abs(want), "\(label): vqrt \(x), reference \(want)", file: file, line: line)
    }

    // MARK: the single-metric commands against the reference packages

    /// Every variant of `vqrt ssim` against its package's float64 run, pair by pair (two image files) and as the mean
    /// over the folders (1e-6 relative, the tolerance).
    func testSSIMMatchesEachTool() throws {
        let (a, b, _) = try pairFolders()
        let pairs = try XCTUnwrap(try Self.fixture("ssim.json")["pairs"] as? [[String: Any]])
        // LlamaGen's call (skimage on [0, 1] images, data_range 2.0) is skimage with the range scaled alike: 510.
        let variants: [(args: [String], key: String)] = [
            ([], "torchmetrics_float64"), (["--variant", "torchmetrics"], "torchmetrics_float64"),
            (["--variant", "pytorch-msssim"], "pytorch_msssim_float64"), (["--variant", "skimage"], "skimage_uint8"),
            (["--variant", "skimage", "--data-range", "510"], "skimage_llamagen_float64"),
        ]
        for (args, key) in variants {
            let want = try pairs.map { try XCTUnwrap($0[key] as? Double, key) }
            let j = try runJSON(["ssim", a, b] + args)
            XCTAssertEqual(j["n"] as? Int, pairs.count)
            XCTAssertEqual(j["variant"] as? String, args.count > 1 ? args[1] : "torchmetrics")
            assertRelative((j["ssim"] as? NSNumber)?.doubleValue, want.reduce(0, +) / Double(want.count), 1e-6, "ssim \(args)")
        }
        // One pair given as two files; the plain output names the variant.
        for p in pairs.prefix(2) {
            let name = try XCTUnwrap(p["name"] as? String)
            let files = [CLI.fixture("paper_metrics/images/\(name)_ref.png"), CLI.fixture("paper_metrics/images/\(name)_dist.png")]
            let j = try runJSON(["ssim"] + files + ["--variant", "skimage"])
            assertRelative((j["ssim"] as? NSNumber)?.doubleValue, try XCTUnwrap(p["skimage_uint8"] as? Double), 1e-6, "\(name) skimage")
            let r = try CLI.run(["ssim"] + files)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdout.hasPrefix("SSIM (torchmetrics): "), r.stdout)
        }
    }

    /// `vqrt lpips` with synthetic backbones in torchvision's layout and the bundled lin weights against the lpips
    /// package's float64 run with the same weights (1e-5 relative, the tolerance).
    func testLPIPSMatchesTheLpipsPackage() throws {
        let (a, b, names) = try pairFolders()
        let nets = try XCTUnwrap(try Self.fixture("lpips.json")["nets"] as? [String: Any])
        for net in LPIPS.Net.allCases {
            let want = try XCTUnwrap((nets[net.rawValue] as? [String: Any])?["float64"] as? [Double])
            XCTAssertEqual(want.count, names.count)
            let j = try runJSON(["lpips", a, b, "--backbone", CLI.lpipsBackbone(net), "--net", net.rawValue, "--batch-size", "4"])
            XCTAssertEqual(j["n"] as? Int, names.count)
            XCTAssertEqual(j["net"] as? String, net.rawValue)
            assertRelative((j["lpips"] as? NSNumber)?.doubleValue, want.reduce(0, +) / Double(want.count), 1e-5, "LPIPS-\(net)")
        }
        // The lin weights given explicitly are the bundled ones: the same number.
        let bundled = CLI.packageRoot.appendingPathComponent(LPIPSWeights.bundledRelativePath(.alex)).path
        let x = try runJSON(["lpips", a, b, "--backbone", CLI.lpipsBackbone(.alex)])
        let y = try runJSON(["lpips", a, b, "--backbone", CLI.lpipsBackbone(.alex), "--lpips-weights", bundled, "--batch-size", "1", "--threads", "1"])
        XCTAssertEqual(x["lpips"] as? Double, y["lpips"] as? Double, "batch size, threads or the lin file's path changed the value")
    }

    /// "fid-features v1" sets (tools/make_inception_fixtures.py `fid_features`), float32 as torch-fidelity got them.
    static func fidFeatures(_ set: String, n: Int, seed: UInt64, shift: Double, dim: Int, rank: Int = 64) -> [Float] {
        let z = DeterministicWeightSource.values(name: "fid.\(set).z", shape: [n, rank], seed: seed).map(Double.init)
        let m = DeterministicWeightSource.values(name: "fid.mix.\(dim)", shape: [rank, dim], seed: seed).map(Double.init)
        let e = DeterministicWeightSource.values(name: "fid.\(set).noise", shape: [n, dim], seed: seed)
        var out = [Float](repeating: 0, count: n * dim)
        var row = [Double](repeating: 0, count: dim)
        for i in 0..<n {
            for j in 0..<dim { row[j] = 0 }
            for k in 0..<rank {
                let zik = z[i * rank + k]
                for j in 0..<dim { row[j] += zik * m[k * dim + j] }
            }
            for j in 0..<dim { out[i * dim + j] = Float(max(0, row[j] * 8 + Double(e[i * dim + j]) * 4 + shift)) }
        }
        return out
    }

    func writeFeatures(_ rows: [Float], dim: Int, protocol p: String?, to name: String) throws -> String {
        let path = tmp.appendingPathComponent(name).path
        var items: [(String, NPYArray)] = [("pool3", try NPYArray(floats: rows, shape: [rows.count / dim, dim]))]
        if let p { items.append(("protocol", NPYArray(strings: [p]))) }
        try NPZ.write(items, to: path, compressed: false)
        return path
    }

    /// `vqrt kid` on feature files against torch-fidelity's `kid_features_to_metric` on the same float32 features
    /// (kid.json: its float64 run, 1e-6 relative, the tolerance): the default subset size shrinking to the
    /// smaller set, and explicit subsets and subset size on 64-d features.
    func testKIDMatchesTorchFidelity() throws {
        let j = try Self.fixture("kid.json")
        let seed = UInt64(try XCTUnwrap(j["seed"] as? Int))
        for case let c as [String: Any] in try XCTUnwrap(j["cases"] as? [Any]) {
            let name = try XCTUnwrap(c["name"] as? String)
            guard name != "big" else { continue }   // 1500 x 2048: covered by MetricsTests; the CLI path is the same
            let a = try XCTUnwrap(c["a"] as? [Any]), b = try XCTUnwrap(c["b"] as? [Any])
            let dim = try XCTUnwrap(c["dim"] as? Int), subsets = try XCTUnwrap(c["subsets"] as? Int)
            let m = try XCTUnwrap(c["subset_size"] as? Int)
            let fa = Self.fidFeatures(a[0] as! String, n: a[1] as! Int, seed: seed, shift: (a[2] as! NSNumber).doubleValue, dim: dim)
            let fb = Self.fidFeatures(b[0] as! String, n: b[1] as! Int, seed: seed, shift: (b[2] as! NSNumber).doubleValue, dim: dim)
            let pa = try writeFeatures(fa, dim: dim, protocol: "torch-fidelity", to: "\(name)-a.npz")
            let pb = try writeFeatures(fb, dim: dim, protocol: nil, to: "\(name)-b.npz")
            // "small" asks for the default 1000 and gets the smaller set's size, as torch-fidelity given m.
            let size = name == "small" ? [] : ["--kid-subset-size", String(m)]
            let r = try runJSON(["kid", pa, pb, "--kid-subsets", String(subsets)] + size)
            let f64 = try XCTUnwrap(c["float64"] as? [Double])
            assertRelative((r["kid_mean"] as? NSNumber)?.doubleValue, f64[0], 1e-6, "\(name) KID mean")
            assertRelative((r["kid_std"] as? NSNumber)?.doubleValue, f64[1], 1e-6, "\(name) KID std")
            XCTAssertEqual(r["n_a"] as? Int, a[1] as? Int)
            XCTAssertEqual(r["n_b"] as? Int, b[1] as? Int)
            XCTAssertEqual(r["subset_size"] as? Int, m)
            XCTAssertEqual(r["subsets"] as? Int, subsets)
            // The protocol recorded in a file is the run's unless told otherwise.
            XCTAssertEqual(r["protocol"] as? String, "torch-fidelity")
        }
    }

    /// A value of `vqrt fid|kid --protocol torch-fidelity first second` against torch-fidelity's `calculate_metrics` on
    /// the same two folders (Fixtures/paper_metrics/cli.json, tools/make_cli_paper_metric_fixtures.py). Against the
    /// exact value of its float64 network (FID by singular values, KID in float64): within 4x PyTorch's own float32
    /// error (its float32 network's exact value against its float64 network's), at least the 1e-6 relative.
    /// Against the number `calculate_metrics` prints (float32 network; FID through scipy's sqrtm on these singular
    /// covariances, KID in float32): that bound plus the distance of its number from its own exact value.
    func assertMatchesCalculateMetrics(_ value: Double, _ key: String, _ label: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let j = try Self.fixture("cli.json")
        func get(_ a: String, _ b: String) throws -> Double {
            try XCTUnwrap(((j[a] as? [String: Any])?[b] as? [String: Any])?[key] as? Double, "cli.json \(a).\(b).\(key)")
        }
        let exact64 = try get("exact", "float64"), exact32 = try get("exact", "float32")
        let printed = try get("torch_fidelity", "float32")
        let tolerance = max(4 * abs(exact32 - exact64), 1e-6 * abs(exact64))
        print("\(label): vqrt \(value), torch-fidelity float64 network \(exact64) (float32 network \(exact32), calculate_metrics \(printed)); |vqrt - exact| = \(abs(value - exact64)), tolerance \(tolerance)")
        XCTAssertLessThanOrEqual(abs(value - exact64), tolerance, "\(label) against torch-fidelity's float64 network", file: file, line: line)
        XCTAssertLessThanOrEqual(abs(value - printed), tolerance + abs(printed - exact32), "\(label) against calculate_metrics", file: file, line: line)
    }

    /// The torch-fidelity protocol through `features`, `fid-stats`, `fid` and `kid`, on the files torch-fidelity's
    /// own extractor read for Fixtures/paper_metrics/pool3_fidelity.npy with the same synthetic weights (seed 1):
    /// pool3 within 1e-4 row-relative; the statistics are those of these features; FID and KID of two folders are
    /// those of their features files; a file of the other protocol is refused.
    func testTorchFidelityProtocolFeaturesStatisticsFIDAndKID() throws {
        let j = try Self.fixture("fidelity.json")
        let files = try XCTUnwrap(j["files"] as? [String]).map { CLI.packageRoot.appendingPathComponent($0).path }
        let reference = try NPY.read(path: CLI.fixture("paper_metrics/pool3_fidelity.npy"))
        XCTAssertEqual(reference.shape, [files.count, 2048])
        let want = try reference.floats()
        let weights = ["--inception", CLI.inceptionWeights(seed: 1), "--quiet"]

        let features = tmp.appendingPathComponent("f.npz").path
        var r = try CLI.run(["features", "--protocol", "torch-fidelity"] + weights + files + ["--output", features, "--batch-size", "4"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let archive = try NPZ.read(path: features)
        XCTAssertEqual(try archive.array("protocol").strings(), ["torch-fidelity"])
        let ours = try archive.array("pool3").floats()
        XCTAssertEqual(ours.count, want.count)
        var worst = 0.0
        for i in 0..<files.count {
            let row = (i * 2048)..<((i + 1) * 2048)
            let diff = zip(ours[row], want[row]).map { Double($0 - $1) * Double($0 - $1) }.reduce(0, +).squareRoot()
            let norm = want[row].map { Double($0) * Double($0) }.reduce(0, +).squareRoot()
            worst = max(worst, diff / norm)
        }
        print("torch-fidelity protocol through the CLI: pool3 row-relative difference \(worst)")
        XCTAssertLessThan(worst, 1e-4)
        // The default protocol gives other features on the same files.
        let pf = tmp.appendingPathComponent("pf.npz").path
        r = try CLI.run(["features"] + weights + files + ["--output", pf])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try NPZ.read(path: pf).array("protocol").strings(), ["pytorch-fid"])
        XCTAssertNotEqual(try NPZ.read(path: pf).array("pool3").floats(), ours)

        // Two folders (the first 8 files, the last 7), statistics of each, FID of the folders and of the files.
        let dirs = [tmp.appendingPathComponent("first"), tmp.appendingPathComponent("second")]
        for (k, d) in dirs.enumerated() {
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
            for (i, f) in files.enumerated() where (i < 8) == (k == 0) {
                try FileManager.default.copyItem(atPath: f, toPath: d.appendingPathComponent(String(format: "%02d_", i) + (f as NSString).lastPathComponent).path)
            }
        }
        let stats = dirs.map { $0.path + ".npz" }
        for (d, s) in zip(dirs, stats) {
            r = try CLI.run(["fid-stats", "--protocol", "torch-fidelity"] + weights + [d.path, "--output", s])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        // mu of the first folder = the mean of the reference features of its files.
        let mu = try NPZ.read(path: stats[0]).array("mu").doubles()
        for c in [0, 1, 777, 2047] {
            let mean = (0..<8).map { Double(want[$0 * 2048 + c]) }.reduce(0, +) / 8
            XCTAssertEqual(mu[c], mean, accuracy: 1e-4 * max(1, abs(mean)), "mu[\(c)]")
        }
        let fromFolders = try runJSON(["fid", "--protocol", "torch-fidelity"] + weights + dirs.map(\.path))
        let fromFiles = try runJSON(["fid"] + stats)
        XCTAssertEqual(fromFiles["protocol"] as? String, "torch-fidelity", "the protocol the files record")
        let x = try XCTUnwrap((fromFolders["fid"] as? NSNumber)?.doubleValue), y = try XCTUnwrap((fromFiles["fid"] as? NSNumber)?.doubleValue)
        XCTAssertEqual(x, y, accuracy: 1e-9 * max(1, abs(x)))
        try assertMatchesCalculateMetrics(x, "fid", "FID of the folders")
        // Statistics of the other protocol are refused, naming the file.
        let other = tmp.appendingPathComponent("other.npz").path
        r = try CLI.run(["fid-stats"] + weights + [dirs[1].path, "--output", other])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertOneErrorLine(try CLI.run(["fid", stats[0], other]), "other.npz", "holds pytorch-fid features, not torch-fidelity")
        XCTAssertOneErrorLine(try CLI.run(["fid", "--protocol", "pytorch-fid", stats[0], other]), "first.npz", "holds torch-fidelity features")

        // KID of two folders = KID of their features files (the same rows), under the protocol asked for.
        let fa = tmp.appendingPathComponent("fa.npz").path, fb = tmp.appendingPathComponent("fb.npz").path
        for (d, f) in zip(dirs, [fa, fb]) {
            r = try CLI.run(["features", "--protocol", "torch-fidelity"] + weights + [d.path, "--output", f])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        let kidFolders = try runJSON(["kid", "--protocol", "torch-fidelity", "--kid-subsets", "20"] + weights + dirs.map(\.path))
        let kidFiles = try runJSON(["kid", fa, fb, "--kid-subsets", "20"])
        XCTAssertEqual(kidFolders["subset_size"] as? Int, 7)
        try assertMatchesCalculateMetrics(try XCTUnwrap((kidFolders["kid_mean"] as? NSNumber)?.doubleValue), "kid_mean", "KID mean of the folders")
        try assertMatchesCalculateMetrics(try XCTUnwrap((kidFolders["kid_std"] as? NSNumber)?.doubleValue), "kid_std", "KID std of the folders")
        XCTAssertEqual(kidFolders["kid_mean"] as? Double, kidFiles["kid_mean"] as? Double)
        XCTAssertEqual(kidFolders["kid_std"] as? Double, kidFiles["kid_std"] as? Double)
        XCTAssertEqual(kidFiles["protocol"] as? String, "torch-fidelity")
        // On torch-fidelity's own features of the same files, within what the features' 1e-4 allows.
        let ra = try writeFeatures(Array(want[0..<(8 * 2048)]), dim: 2048, protocol: "torch-fidelity", to: "ra.npz")
        let rb = try writeFeatures(Array(want[(8 * 2048)...]), dim: 2048, protocol: "torch-fidelity", to: "rb.npz")
        let kidReference = try runJSON(["kid", ra, rb, "--kid-subsets", "20"])
        let k = try XCTUnwrap(kidFiles["kid_mean"] as? Double), kr = try XCTUnwrap(kidReference["kid_mean"] as? Double)
        print("KID (torch-fidelity protocol) of the folders \(k), of torch-fidelity's features \(kr)")
        XCTAssertEqual(k, kr, accuracy: 1e-3 * abs(kr))
    }

    // MARK: eval and compare

    var ldm: [String] { ["--checkpoint", CLI.fixture("models/ldm-small/model.ckpt"), "--config", CLI.fixture("models/ldm-small/config.yaml")] }
    var metricArgs: [String] {
        ["--inception", CLI.inceptionWeights(), "--protocols", "pytorch-fid,torch-fidelity", "--backbone", CLI.lpipsBackbone(.alex),
         "--kid-subsets", "10", "--batch-size", "3", "--quiet"]
    }

    /// Six images of several sizes in one folder (eval reads them in name order).
    func imageFolder() throws -> String {
        let dir = tmp.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for (i, p) in CLI.goodImages.prefix(6).enumerated() {
            try FileManager.default.copyItem(atPath: p, toPath: dir.appendingPathComponent("img\(i).\((p as NSString).pathExtension)").path)
        }
        return dir.path
    }

    func report(_ dir: String) throws -> [String: Any] {
        try CLI.json(try String(contentsOfFile: (dir as NSString).appendingPathComponent("report.json"), encoding: .utf8))
    }

    static func value(_ r: [String: Any], _ path: [String]) -> Double? {
        var cur: Any? = r
        for p in path { cur = (cur as? [String: Any])?[p] }
        return (cur as? NSNumber)?.doubleValue
    }

    /// The pair metrics both reports carry, and KID (bitwise: the same feature rows in the same order).
    /// (r-IS needs at least as many images as its 10 splits: null on these 6, as PIGM's NaN.)
    static let pairScores = [["r_fid"], ["fid", "pytorch-fid"], ["fid", "torch-fidelity"],
                             ["psnr_db", "mean"], ["ssim", "torchmetrics"], ["ssim", "pytorch-msssim"], ["ssim", "skimage"],
                             ["ssim", "llamagen"], ["lpips", "mean"]]
    static let kidScores = [["kid", "pytorch-fid", "mean"], ["kid", "pytorch-fid", "std"], ["kid", "torch-fidelity", "mean"],
                            ["kid", "torch-fidelity", "std"]]

    /// eval's report has every paper metric, and `compare` on the originals and reconstructions `reconstruct` writes
    /// gives the same numbers, as do the single-metric commands on those folders.
    func testEvalAndCompareReportEveryPaperMetric() throws {
        let images = try imageFolder()
        let e = tmp.appendingPathComponent("eval").path
        var r = try CLI.run(["eval"] + ldm + metricArgs + [images, "--report", e])
        XCTAssertEqual(r.status, 0, r.stderr)
        let er = try report(e)
        XCTAssertEqual(er["command"] as? String, "eval")
        XCTAssertEqual(er["protocols"] as? [String], ["pytorch-fid", "torch-fidelity"])
        for path in Self.pairScores + Self.kidScores + [["codebook_usage", "entropy_bits"], ["codebook_usage", "perplexity"]] {
            XCTAssertNotNil(Self.value(er, path), "eval report: \(path) missing")
        }
        XCTAssertEqual(Self.value(er, ["r_fid"]), Self.value(er, ["fid", "pytorch-fid"]))
        XCTAssertTrue((er["r_is"] as? [String: Any])?["mean"] is NSNull, "r-IS of 6 images in 10 splits")
        // kid.mean/std are the pytorch-fid features' KID (as r_fid is that protocol's FID).
        XCTAssertEqual(Self.value(er, ["kid", "mean"]), Self.value(er, ["kid", "pytorch-fid", "mean"]))
        XCTAssertEqual(Self.value(er, ["kid", "std"]), Self.value(er, ["kid", "pytorch-fid", "std"]))
        XCTAssertEqual((er["kid"] as? [String: Any])?["protocol"] as? String, "pytorch-fid")
        XCTAssertNotEqual(Self.value(er, ["fid", "torch-fidelity"]), Self.value(er, ["fid", "pytorch-fid"]))
        XCTAssertEqual((er["lpips"] as? [String: Any])?["net"] as? String, "alex")
        XCTAssertEqual(((er["kid"] as? [String: Any])?["torch-fidelity"] as? [String: Any])?["subsets"] as? Int, 10)
        XCTAssertEqual(((er["kid"] as? [String: Any])?["torch-fidelity"] as? [String: Any])?["subset_size"] as? Int, 6)
        let md = try String(contentsOfFile: e + "/report.md", encoding: .utf8)
        for phrase in ["r-FID (torch-fidelity)", "torch-fidelity 0.4.0", "SSIM (llamagen)", "LlamaGen", "scikit-image",
                       "pytorch_msssim", "torchmetrics 1.9", "LPIPS (alex)", "lpips` 0.1.4", "codebook entropy", "1d-tokenizer"] {
            XCTAssertTrue(md.contains(phrase), "report.md lacks '\(phrase)'")
        }

        // The same reconstructions as files, then `compare` and the single-metric commands on them.
        let o = tmp.appendingPathComponent("originals").path, rec = tmp.appendingPathComponent("reconstructions").path
        r = try CLI.run(["reconstruct"] + ldm + [images, "--output", rec, "--originals", o, "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let c = tmp.appendingPathComponent("compare").path
        r = try CLI.run(["compare", o, rec, "--report", c] + metricArgs)
        XCTAssertEqual(r.status, 0, r.stderr)
        let cr = try report(c)
        XCTAssertEqual(cr["command"] as? String, "compare")
        XCTAssertNil(cr["codebook_usage"])
        for path in Self.pairScores {
            let x = try XCTUnwrap(Self.value(er, path)), y = try XCTUnwrap(Self.value(cr, path), "\(path)")
            XCTAssertEqual(x, y, accuracy: 1e-9 * max(1, abs(x)), "compare vs eval: \(path)")
        }
        for path in Self.kidScores { XCTAssertEqual(Self.value(er, path), Self.value(cr, path), "compare vs eval: \(path)") }
        XCTAssertTrue(FileManager.default.fileExists(atPath: c + "/worst_best_random.png"))
        XCTAssertTrue(try String(contentsOfFile: c + "/report.md", encoding: .utf8).contains("# vqrt comparison"))

        let ssim = try runJSON(["ssim", o, rec, "--variant", "skimage"])
        XCTAssertEqual((ssim["ssim"] as? NSNumber)?.doubleValue ?? .nan, Self.value(er, ["ssim", "skimage"]) ?? 0, accuracy: 1e-12)
        let lpips = try runJSON(["lpips", o, rec, "--backbone", CLI.lpipsBackbone(.alex)])
        XCTAssertEqual((lpips["lpips"] as? NSNumber)?.doubleValue ?? .nan, Self.value(er, ["lpips", "mean"]) ?? 0, accuracy: 1e-12)
        // KID as torch-fidelity orders it: reconstructions are input1.
        let kid = try runJSON(["kid", "--protocol", "torch-fidelity", "--kid-subsets", "10", "--inception", CLI.inceptionWeights(), rec, o])
        XCTAssertEqual((kid["kid_mean"] as? NSNumber)?.doubleValue, Self.value(er, ["kid", "torch-fidelity", "mean"]))
        let fid = try runJSON(["fid", "--protocol", "torch-fidelity", "--inception", CLI.inceptionWeights(), o, rec])
        XCTAssertEqual((fid["fid"] as? NSNumber)?.doubleValue ?? .nan, Self.value(er, ["fid", "torch-fidelity"]) ?? 0,
                       accuracy: 1e-9 * max(1, Self.value(er, ["fid", "torch-fidelity"]) ?? 0))
    }

    /// `compare` in two shards merged equals one run: float64 accumulators to 1e-9, per-image values and KID bitwise.
    func testCompareShardsMergeIntoTheSingleRun() throws {
        let (a, b, _) = try pairFolders()
        let single = tmp.appendingPathComponent("single").path, sharded = tmp.appendingPathComponent("sharded").path
        let args = ["compare", a, b, "--inception", CLI.inceptionWeights(), "--protocols", "pytorch-fid,torch-fidelity",
                    "--backbone", CLI.lpipsBackbone(.alex), "--kid-subsets", "5", "--quiet"]
        var r = try CLI.run(args + ["--report", single, "--batch-size", "4"])
        XCTAssertEqual(r.status, 0, r.stderr)
        for shard in ["0/2", "1/2"] {
            r = try CLI.run(args + ["--report", sharded, "--shard", shard, "--batch-size", "2"])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        let parts = (0..<2).map { "\(sharded)/partial-\($0)-of-2.npz" }
        r = try CLI.run(["merge"] + parts + ["--report", sharded, "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let x = try report(single), y = try report(sharded)
        for path in Self.pairScores {
            let u = try XCTUnwrap(Self.value(x, path)), v = try XCTUnwrap(Self.value(y, path))
            XCTAssertEqual(u, v, accuracy: 1e-9 * max(1, abs(u)), "\(path)")
        }
        for path in Self.kidScores { XCTAssertEqual(Self.value(x, path), Self.value(y, path), "\(path)") }
        XCTAssertEqual(x["run_id"] as? String, y["run_id"] as? String)
        let one = try EvalState(path: single + "/partial-0-of-1.npz")
        let merged = try EvalMerge.merge(parts)
        XCTAssertEqual(merged.perImagePSNR, one.perImagePSNR)
        XCTAssertEqual(merged.perImageSSIM, one.perImageSSIM)
        XCTAssertEqual(merged.perImageLPIPS, one.perImageLPIPS)
        for p in [InceptionProtocol.pytorchFID, .torchFidelity] {
            for side in FeatureSide.allCases { XCTAssertEqual(try merged.featureRows(p, side), try one.featureRows(p, side), "\(p) \(side)") }
        }
    }

    // MARK: bad input

    /// Each misuse is one `error:` line, decided before any compute (no report directory appears).
    func testBadInputIsOneErrorLineBeforeCompute() throws {
        let (a, b, _) = try pairFolders()
        let images = try imageFolder()
        let report = tmp.appendingPathComponent("report").path
        let weights = ["--inception", CLI.inceptionWeights()]
        // Names without a partner, in either folder.
        let lonely = tmp.appendingPathComponent("B/lonely.png").path
        try FileManager.default.copyItem(atPath: CLI.fixture("paper_metrics/images/flat_noise_ref.png"), toPath: lonely)
        XCTAssertOneErrorLine(try CLI.run(["ssim", a, b]), "have no partner", "lonely.png")
        XCTAssertOneErrorLine(try CLI.run(["compare", a, b, "--report", report] + weights), "have no partner", "lonely.png")
        try FileManager.default.removeItem(atPath: lonely)
        try FileManager.default.moveItem(atPath: b + "/rocket_shift.PNG", toPath: tmp.appendingPathComponent("rocket_shift.PNG").path)
        XCTAssertOneErrorLine(try CLI.run(["lpips", a, b, "--backbone", CLI.lpipsBackbone()]), "rocket_shift.png", "no partner")
        try FileManager.default.moveItem(atPath: tmp.appendingPathComponent("rocket_shift.PNG").path, toPath: b + "/rocket_shift.PNG")
        // A pair of two sizes.
        try FileManager.default.removeItem(atPath: b + "/flat_noise.PNG")
        try FileManager.default.copyItem(atPath: CLI.fixture("paper_metrics/images/gradient_quant_ref.png"), toPath: b + "/flat_noise.PNG")
        XCTAssertOneErrorLine(try CLI.run(["ssim", a, b]), "flat_noise.png is 40x32", "a pair must have one size")
        // A missing backbone says where torchvision's file comes from.
        XCTAssertOneErrorLine(try CLI.run(["lpips", a, a, "--backbone", tmp.appendingPathComponent("none.pth").path]),
                              "alexnet-owt-7be5be79.pth", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth", "7be5be79")
        XCTAssertOneErrorLine(try CLI.run(["lpips", a, a, "--net", "vgg", "--backbone", tmp.appendingPathComponent("none.pth").path]),
                              "vgg16-397923af.pth")
        XCTAssertOneErrorLine(try CLI.run(["eval"] + ldm + weights + [images, "--report", report, "--backbone", "/nonexistent/alex.pth"]),
                              "alexnet-owt-7be5be79.pth")
        XCTAssertOneErrorLine(try CLI.run(["eval"] + ldm + weights + [images, "--report", report, "--net", "vgg"]), "need --backbone")
        // A subset size larger than a set.
        XCTAssertOneErrorLine(try CLI.run(["kid"] + weights + [a, images, "--kid-subset-size", "7"]), "--kid-subset-size 7 is larger than", "(6 images)")
        XCTAssertOneErrorLine(try CLI.run(["eval"] + ldm + weights + [images, "--report", report, "--kid-subset-size", "50"]),
                              "--kid-subset-size 50 is larger than")
        XCTAssertOneErrorLine(try CLI.run(["kid"] + weights + [a, images, "--kid-subset-size", "1"]), "at least 2")
        // A subset whose Gram matrices cannot fit (3 x m² float64 per subset): refused before compute, by the check
        // kid and eval make.
        XCTAssertThrowsError(try KIDSettings(subsetSize: 3_000_000).check(countA: 3_000_000, countB: 3_000_000)) {
            XCTAssertTrue("\($0)".contains("KID with subsets of 3000000 images needs about") && "\($0)".contains("--kid-subset-size"), "\($0)")
        }
        // Unknown protocols; a protocol list without pytorch-fid.
        XCTAssertOneErrorLine(try CLI.run(["fid", "--protocol", "clean-fid"] + weights + [a, images]), "clean-fid")
        XCTAssertOneErrorLine(try CLI.run(["features", "--protocol", "tf"] + weights + [a, "--output", report + ".npz"]), "tf")
        XCTAssertOneErrorLine(try CLI.run(["eval"] + ldm + weights + [images, "--report", report, "--protocols", "pytorch-fid,clean-fid"]),
                              "unknown protocol 'clean-fid'")
        XCTAssertOneErrorLine(try CLI.run(["compare", a, a, "--report", report, "--protocols", "torch-fidelity"] + weights),
                              "--protocols must include pytorch-fid")
        XCTAssertOneErrorLine(try CLI.run(["eval"] + ldm + weights + [images, "--report", report, "--protocols", "pytorch-fid,pytorch-fid"]),
                              "listed twice")
        // Feature files of two protocols.
        let fa = try writeFeatures([Float](repeating: 1, count: 4 * 8), dim: 8, protocol: "torch-fidelity", to: "x.npz")
        let fb = try writeFeatures([Float](repeating: 2, count: 4 * 8), dim: 8, protocol: "pytorch-fid", to: "y.npz")
        XCTAssertOneErrorLine(try CLI.run(["kid", fa, fb]), "y.npz", "holds pytorch-fid features, not torch-fidelity")
        XCTAssertOneErrorLine(try CLI.run(["kid", fa, images + "/img0.png"]), "expected a directory of images or a features .npz")
        XCTAssertFalse(FileManager.default.fileExists(atPath: report), "a refused command created its report directory")
    }
}
