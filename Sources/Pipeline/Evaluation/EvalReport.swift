// The evaluation report: report.json (every number, with counts, model, versions and timings), report.md (a table
// to paste into a paper's appendix, with what each number is) and a labelled picture of originals over
// reconstructions (worst and best PSNR, and a few at random), all written atomically.

import Foundation
import Imaging
import Metrics
import Models
import PickleVM
import Tensor
import TorchFormats

public enum EvalReport {
    /// A short fingerprint of a run's identity, recorded in report.json: a directory whose report has another one
    /// belongs to another run.
    public static func runID(_ identity: EvalIdentity) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys   // the same text in every process
        let json = (try? encoder.encode(identity)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return String(Hashing.sha256(json).prefix(16))
    }

    /// Writes report.json, report.md and the picture into `dir`; returns the Markdown text. `vq`: the model the
    /// run used if this process holds it (a single run); otherwise (merge) it is loaded again for the picture.
    @discardableResult
    public static func write(_ s: EvalState, to dir: String, vq: LoadedVQ?, picture: PictureCandidates? = nil,
                             warn: WarningSink) throws -> String {
        let m = s.meta, id = m.identity
        let fid = try FrechetDistance.compute(try s.originals.statistics(), try s.reconstructions.statistics())
        let isScore = try? s.inceptionScore.result()
        let psnr = s.psnr.result
        let usage = s.usage.result
        let qerr = m.quantisationErrorCount > 0 ? m.quantisationErrorSum / Double(m.quantisationErrorCount) : 0
        let standard = id.inceptionSHA256 == InceptionWeights.standardSHA256
        func num(_ d: Double?) -> JSONValue { d.map { $0.isFinite ? .double($0) : .string(PyFormat.float($0)) } ?? .null }
        let hyperparameters = (try? JSONValue.parse(id.hyperparameters)) ?? .object([])
        let json: JSONValue = .object([
            ("vqrt_version", .string(m.vqrtVersion)),
            ("run_id", .string(runID(id))),
            ("model", .object([("family", .string(id.family)), ("checkpoint", .string(id.checkpoint)),
                               ("checkpoint_sha256", .string(id.checkpointSHA256)),
                               ("config", id.config.map { .string($0) } ?? .null), ("preset", .string(id.preset)),
                               ("conv_algorithm", .string(id.convAlgorithm)), ("precision", .string(id.precision)),
                               ("hyperparameters", hyperparameters)])),
            ("images", .int(Int64(m.processed))),
            ("shards", .int(Int64(m.shardCount))),
            ("inception_weights", .object([("path", .string(id.inception)), ("sha256", .string(id.inceptionSHA256)),
                                           ("standard", .bool(standard))])),
            ("r_fid", num(fid.value)),
            ("r_is", .object([("mean", num(isScore?.mean)), ("std", num(isScore?.std)), ("splits", .int(10))])),
            ("psnr_db", .object([("mean", num(psnr.meanPSNR)), ("pooled", num(psnr.pooledPSNR)), ("identical_images", .int(Int64(psnr.identical)))])),
            ("mse_model_space", num(s.mse.meanSquaredError)),
            ("codebook_usage", .object([("windowed_mean", num(usage.windowedUsage)), ("windows", .int(Int64(usage.windows))),
                                        ("window_images", .int(Int64(usage.windowImages))), ("used_codes", .int(Int64(usage.usedCodes))),
                                        ("codebook_size", .int(Int64(id.codebookSize))), ("usage", num(usage.usage)),
                                        ("perplexity", num(usage.perplexity))])),
            ("quantisation_error", num(qerr)),
            ("compute_seconds", num(m.seconds)),
            ("model_seconds", num(m.modelSeconds)),
            ("inception_seconds", num(m.inceptionSeconds)),
            ("images_per_second", num(m.seconds > 0 ? Double(m.processed) / m.seconds : nil)),
        ])
        try FileSystem.writeAtomically(json.render(pretty: true) + "\n", to: (dir as NSString).appendingPathComponent("report.json"))
        func f(_ d: Double?, _ digits: Int = 3) -> String { d.map { String(format: "%.\(digits)f", $0) } ?? "n/a" }
        var md = "# vqrt evaluation\n\n"
        md += "Model: `\(id.family)` (\((id.checkpoint as NSString).lastPathComponent)), preset `\(id.preset)`, \(id.convAlgorithm) convolutions\(id.precision == "bf16" ? " in bf16" : ""), \(m.processed) images"
        md += m.shardCount > 1 ? " in \(m.shardCount) shards.\n\n" : ".\n\n"
        md += "| metric | value | definition |\n|---|---|---|\n"
        md += "| r-FID | \(f(fid.value, 4)) | pytorch-fid: preprocessed originals vs 8-bit reconstructions, Inception pool3, ddof 1 |\n"
        md += "| r-IS | \(f(isScore?.mean)) ± \(f(isScore?.std)) | pytorch-image-generation-metrics: reconstructions, 10 splits in input order |\n"
        md += "| PSNR (dB) | \(f(psnr.meanPSNR, 2)) | per image on 8-bit pixels (peak 255), averaged over images |\n"
        md += "| MSE | \(f(s.mse.meanSquaredError, 5)) | model input space, before the 8-bit mapping |\n"
        md += "| codebook usage (per \(usage.windowImages) images) | \(usage.windowedUsage.map { String(format: "%.1f%%", 100 * $0) } ?? "n/a") | rotation_trick's windowed usage |\n"
        md += "| codebook usage (whole run) | \(usage.usedCodes) / \(id.codebookSize) (\(String(format: "%.1f%%", 100 * usage.usage))), perplexity \(f(usage.perplexity, 1)) | codes used at least once; exp(entropy) of code frequencies |\n"
        md += "| quantisation error | \(f(qerr, 5)) | mean squared distance from each latent to its code, in the quantizer's space |\n\n"
        md += "Inception weights: `\((id.inception as NSString).lastPathComponent)`" + (standard ? " (the standard pytorch-fid file)." : " (**not** the standard file: scores are not comparable with published ones).") + "\n"
        md += String(format: "Throughput: %.2f images/s over %.1f s of compute. vqrt %@.\n", m.seconds > 0 ? Double(m.processed) / m.seconds : 0, m.seconds, m.vqrtVersion)
        md += "\n`\(EvalPicture.fileName)`: originals (top row) over their reconstructions (bottom row) for the \(EvalPicture.worst) images with the lowest PSNR, the \(EvalPicture.best) with the highest, and \(EvalPicture.random) chosen at random (a fixed seed: the same images every time); each column is labelled with its group and the image's PSNR.\n"
        try FileSystem.writeAtomically(md, to: (dir as NSString).appendingPathComponent("report.md"))
        do {
            try EvalPicture.write(s, dir: dir, vq: vq, held: picture)
        } catch {
            warn("\(EvalPicture.fileName) not written: \(error)")
        }
        return md
    }
}
