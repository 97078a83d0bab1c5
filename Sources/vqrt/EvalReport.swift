// The evaluation report: report.json (every number, with counts, model, versions and timings), report.md (a table
// to paste into a paper's appendix) and a picture of originals over reconstructions (worst and best PSNR, and a
// few at random), all written atomically.

import Foundation
import Imaging
import Metrics
import Models
import PickleVM
import Tensor
import TorchFormats

enum EvalReport {
    /// `model`: the model the run used, if this process still holds it (a single run); `merge` loads it again.
    static func write(_ s: EvalState, to dir: String, quiet: Bool, model: VQModel? = nil) throws {
        let m = s.meta
        let fid = try FrechetDistance.compute(try s.originals.statistics(), try s.reconstructions.statistics())
        let isScore = try? s.inceptionScore.result()
        let psnr = s.psnr.result
        let usage = s.usage.result
        let qerr = m.quantisationErrorCount > 0 ? m.quantisationErrorSum / Double(m.quantisationErrorCount) : 0
        let standard = m.inceptionSHA256 == InceptionWeights.standardSHA256
        func num(_ d: Double?) -> JSONValue { d.map { $0.isFinite ? .double($0) : .string(PyFormat.float($0)) } ?? .null }
        let json: JSONValue = .object([
            ("vqrt_version", .string(m.vqrtVersion)),
            ("model", .object([("family", .string(m.family)), ("checkpoint", .string(m.checkpoint)),
                               ("config", m.config.map { .string($0) } ?? .null), ("preset", .string(m.preset)),
                               ("conv_algorithm", .string(m.convAlgorithm ?? ConvolutionKernel.Algorithm.direct.rawValue)),
                               ("precision", .string(m.precision ?? Precision.fp32.rawValue)),
                               ("hyperparameters", .object(m.modelSummary.map { ($0[0], .string($0[1])) }))])),
            ("images", .int(Int64(m.processed))),
            ("shards", .int(Int64(m.shardCount))),
            ("inception_weights", .object([("path", .string(m.inception)), ("sha256", m.inceptionSHA256.map { .string($0) } ?? .null),
                                           ("standard", .bool(standard))])),
            ("r_fid", num(fid.value)),
            ("r_is", .object([("mean", num(isScore?.mean)), ("std", num(isScore?.std)), ("splits", .int(10))])),
            ("psnr_db", .object([("mean", num(psnr.meanPSNR)), ("pooled", num(psnr.pooledPSNR)), ("identical_images", .int(Int64(psnr.identical)))])),
            ("mse_model_space", num(s.mse.meanSquaredError)),
            ("codebook_usage", .object([("windowed_mean", num(usage.windowedUsage)), ("windows", .int(Int64(usage.windows))),
                                        ("window_images", .int(Int64(usage.windowImages))), ("used_codes", .int(Int64(usage.usedCodes))),
                                        ("codebook_size", .int(Int64(m.codebookSize))), ("usage", num(usage.usage)),
                                        ("perplexity", num(usage.perplexity))])),
            ("quantisation_error", num(qerr)),
            ("compute_seconds", num(m.seconds)),
            ("images_per_second", num(m.seconds > 0 ? Double(m.processed) / m.seconds : nil)),
        ])
        try atomicWrite(json.render(pretty: true) + "\n", (dir as NSString).appendingPathComponent("report.json"))
        func f(_ d: Double?, _ digits: Int = 3) -> String { d.map { String(format: "%.\(digits)f", $0) } ?? "n/a" }
        var md = "# vqrt evaluation\n\n"
        md += "Model: `\(m.family)` (\((m.checkpoint as NSString).lastPathComponent)), preset `\(m.preset)`, \(m.convAlgorithm ?? "direct") convolutions\(m.precision == "bf16" ? " in bf16" : ""), \(m.processed) images"
        md += m.shardCount > 1 ? " in \(m.shardCount) shards.\n\n" : ".\n\n"
        md += "| metric | value |\n|---|---|\n"
        md += "| r-FID | \(f(fid.value, 4)) |\n"
        md += "| r-IS | \(f(isScore?.mean)) ± \(f(isScore?.std)) |\n"
        md += "| PSNR (dB, mean over images) | \(f(psnr.meanPSNR, 2)) |\n"
        md += "| MSE (model input space) | \(f(s.mse.meanSquaredError, 5)) |\n"
        md += "| codebook usage (per \(usage.windowImages) images) | \(usage.windowedUsage.map { String(format: "%.1f%%", 100 * $0) } ?? "n/a") |\n"
        md += "| codebook usage (whole run) | \(usage.usedCodes) / \(m.codebookSize) (\(String(format: "%.1f%%", 100 * usage.usage))), perplexity \(f(usage.perplexity, 1)) |\n"
        md += "| quantisation error | \(f(qerr, 5)) |\n\n"
        md += "Inception weights: `\((m.inception as NSString).lastPathComponent)`" + (standard ? " (the standard pytorch-fid file)." : " (**not** the standard file: scores are not comparable with published ones).") + "\n"
        md += String(format: "Throughput: %.2f images/s over %.1f s of compute. vqrt %@.\n", m.seconds > 0 ? Double(m.processed) / m.seconds : 0, m.seconds, m.vqrtVersion)
        try atomicWrite(md, (dir as NSString).appendingPathComponent("report.md"))
        do {
            try picture(s, dir: dir, model: model)
        } catch {
            Console.warning("picture not written: \(error)")
        }
        if !quiet {
            print(md)
        }
    }

    /// Originals over reconstructions for the 3 worst, 3 best and 3 random images (recomputed: cheap for nine).
    static func picture(_ s: EvalState, dir: String, model: VQModel?) throws {
        let m = s.meta
        let order = s.perImagePSNR.indices.sorted { s.perImagePSNR[$0] < s.perImagePSNR[$1] }
        var chosen = Array(order.prefix(3)) + Array(order.suffix(3).reversed())
        var rng = UInt64(0x5EED)
        for _ in 0..<3 where order.count > chosen.count {
            rng = rng &* 6364136223846793005 &+ 1442695040888963407
            let pick = Int(rng >> 33) % order.count
            if !chosen.contains(pick) { chosen.append(pick) }
        }
        var seen = Set<Int>()
        chosen = chosen.filter { seen.insert($0).inserted }
        let vq: VQModel
        if let model {
            vq = model
        } else {
            // The same arithmetic as the run (merge runs in a fresh process).
            ConvolutionKernel.defaultAlgorithm = m.convAlgorithm.flatMap(ConvolutionKernel.Algorithm.init(rawValue:)) ?? .direct
            Precision.setDefault(m.precision.flatMap(Precision.init(rawValue:)) ?? .fp32)
            vq = try ModelLoader.load(path: m.checkpoint, family: ModelFamily(rawValue: m.family), configPath: m.config).model
        }
        guard let preset = Preset.named(m.preset) else { throw CLIError("unknown preset \(m.preset)") }
        let files = chosen.map { s.files[$0] }
        let batch = BatchLoader.load(paths: files, preset: preset, keepOriginals: true)
        guard batch.failures.isEmpty, let originals = batch.originals else { throw CLIError("the images are no longer readable") }
        let x = try Tensor(shape: [batch.count, 3, batch.height, batch.width], values: batch.tensor)
        let (_, y) = try vq.reconstruct(x)
        let out = y.plain().toArray()
        let h = y.shape[2], w = y.shape[3], plane = 3 * h * w
        let recons = try (0..<batch.count).map { try preset.pixels(chw: Array(out[($0 * plane)..<(($0 + 1) * plane)]), width: w, height: h) }
        try ImageEncoder.writePNG(try SideBySide.make(top: originals, bottom: recons), to: (dir as NSString).appendingPathComponent("worst_best_random.png"))
    }

    static func atomicWrite(_ text: String, _ path: String) throws {
        let tmp = path + ".tmp-\(getpid())"
        try text.write(toFile: tmp, atomically: false, encoding: .utf8)
        guard rename(tmp, path) == 0 else { throw CLIError("cannot write \(path)") }
    }
}

enum SHA256Text {
    static func hex(_ s: String) -> String { SHA256.hex(Array(s.utf8)) }
}
