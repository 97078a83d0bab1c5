// Results do not depend on --batch-size or --threads (spec/cli.md): every per-image output (codes, latents, raw
// decoder outputs, 8-bit PNGs, Inception features) is bitwise identical for batches of 1, 3 and 8 and for one,
// three or all threads, in both convolution algorithms. The models cover every kernel kind: the demo VQGAN at
// 128 px (3x3 convolutions large enough for Winograd, the fused upsampling's transposed convolutions), ldm-small
// (spatial attention), vit-small (linear layers and multi-head attention), and the FID Inception network; and the
// five tokenizer families of the tokenizers issue (batch 1 / one thread against batch 3 / two threads).

import Foundation
import XCTest

final class DeterminismCLITests: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws { tmp = try CLI.temporaryDirectory("determinism") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    let images = Array(CLI.goodImages.prefix(10))
    /// (batch size, threads); nil threads: all cores.
    let settings: [(Int, Int?)] = [(1, 1), (3, nil), (8, nil), (8, 1), (3, 3)]

    struct Outputs: Equatable {
        var files: [String: Data]
    }

    func run(_ model: [String], algorithm: String, batch: Int, threads: Int?, label: String) throws -> Outputs {
        let dir = tmp.appendingPathComponent(label)
        let common = model + ["--conv-algorithm", algorithm, "--batch-size", String(batch), "--quiet"]
            + (threads.map { ["--threads", String($0)] } ?? [])
        var r = try CLI.run(["reconstruct"] + common + images + ["--output", dir.appendingPathComponent("png").path,
                                                                "--raw", dir.appendingPathComponent("raw.npy").path])
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try CLI.run(["encode"] + common + images + ["--codes", dir.appendingPathComponent("codes.npy").path,
                                                       "--latents", dir.appendingPathComponent("latents.npy").path])
        XCTAssertEqual(r.status, 0, r.stderr)
        var files = try CLI.contents(of: dir.appendingPathComponent("png")).mapKeys { "png/\($0)" }
        for name in ["raw.npy", "codes.npy", "latents.npy"] { files[name] = try Data(contentsOf: dir.appendingPathComponent(name)) }
        return Outputs(files: files)
    }

    func check(_ model: [String], name: String, algorithms: [String], settings: [(Int, Int?)]? = nil) throws {
        for algorithm in algorithms {
            var reference: Outputs?
            for (batch, threads) in settings ?? self.settings {
                let label = "\(name)-\(algorithm)-b\(batch)-t\(threads ?? 0)"
                let outputs = try run(model, algorithm: algorithm, batch: batch, threads: threads, label: label)
                XCTAssertEqual(outputs.files.keys.filter { $0.hasPrefix("png/") }.count, images.count, label)
                guard let reference else { reference = outputs; continue }
                for (file, data) in reference.files {
                    XCTAssertEqual(outputs.files[file], data, "\(label): \(file) differs from batch 1, one thread")
                }
            }
        }
    }

    func testVQGANWithWinogradLayersGivesTheSameBitsWhateverTheBatchAndThreads() throws {
        try check(["--checkpoint", CLI.fixture("demo/demo-vqgan.ckpt"), "--config", CLI.fixture("demo/config.yaml")],
                  name: "demo", algorithms: ["winograd", "direct"])
    }

    func testAttentionModelsGiveTheSameBitsWhateverTheBatchAndThreads() throws {
        try check(["--checkpoint", CLI.fixture("models/ldm-small/model.ckpt"), "--config", CLI.fixture("models/ldm-small/config.yaml")],
                  name: "ldm-small", algorithms: ["winograd", "direct"])
        // No 3x3 convolutions: the algorithm makes no difference to ViT-VQGAN.
        try check(["--checkpoint", CLI.fixture("models/vit-small/last.ckpt"), "--config", CLI.fixture("models/vit-small/config.yaml")],
                  name: "vit-small", algorithms: ["winograd"])
    }

    /// The tokenizers issue's families (small checkpoints in their released containers, 64-pixel preset so that
    /// the first level's 3x3 convolutions still run Winograd): batch 1 on one thread against batch 3 on two. Covers
    /// LlamaGen's cosine lookup, MaskGIT's TF-"SAME" convolutions, Open-MAGVIT2's per-sample adaptive GroupNorm and
    /// depth-to-space, IBQ's and GumbelVQ's blocked dot-product argmax.
    func testTokenizerFamiliesGiveTheSameBitsWhateverTheBatchAndThreads() throws {
        for c in [FamilyCLITests.llamagen, FamilyCLITests.maskgit, FamilyCLITests.openMAGVIT2, FamilyCLITests.ibq,
                  FamilyCLITests.tamingGumbel] {
            try check(c.model + ["--preprocess", "\(c.family)@64"], name: c.family, algorithms: ["winograd", "direct"],
                      settings: [(1, 1), (3, 2)])
        }
    }

    func testInceptionFeaturesGiveTheSameBitsWhateverTheBatchAndThreads() throws {
        var reference: Data?
        for (batch, threads) in settings {
            let out = tmp.appendingPathComponent("features-\(batch)-\(threads ?? 0).npz").path
            let r = try CLI.run(["features", "--inception", CLI.inceptionWeights(), "--batch-size", String(batch), "--quiet", "--output", out]
                                + (threads.map { ["--threads", String($0)] } ?? []) + images)
            XCTAssertEqual(r.status, 0, r.stderr)
            // The .npz is stored uncompressed with fixed timestamps: equal bytes mean equal pool3, logits and files.
            let data = try Data(contentsOf: URL(fileURLWithPath: out))
            if let reference { XCTAssertEqual(data, reference, "features with batch \(batch), threads \(threads ?? 0)") } else { reference = data }
        }
    }
}

extension Dictionary {
    func mapKeys<K: Hashable>(_ f: (Key) -> K) -> [K: Value] { Dictionary<K, Value>(uniqueKeysWithValues: map { (f($0.key), $0.value) }) }
}
