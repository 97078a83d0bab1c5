// The evaluation report: report.json (every number, with counts, model, versions and timings), report.md (a table
// to paste into a paper's appendix, with what each number is and which tool's number it reproduces) and a
// labelled picture of originals over reconstructions (worst and best PSNR, and a few at random), all written
// atomically.

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

    /// The scores of a finished state.
    public struct Scores {
        public let fid: [(InceptionProtocol, FrechetDistance)]
        public let kid: [(InceptionProtocol, KernelInceptionDistance.Result)]
        public let inceptionScore: InceptionScore?
        public let psnr: PSNRResult
        public let ssim: [(String, Double?)]
        public let lpips: Double?

        public init(_ s: EvalState) throws {
            let n = s.meta.processed
            // KID reads every feature row of one protocol and side at a time, as float32.
            try Memory.require(Memory.product(2, n, 2048, 4), for: "KID over \(n) images (their pool3 features)",
                               advice: "KID needs every feature in memory")
            let kidMetric = try s.meta.identity.metrics.kid.metric()
            let kidWorkers = try s.meta.identity.metrics.kid.workers(countA: n, countB: n)
            var fid: [(InceptionProtocol, FrechetDistance)] = [], kid: [(InceptionProtocol, KernelInceptionDistance.Result)] = []
            for (i, p) in s.protocols.enumerated() {
                fid.append((p, try FrechetDistance.compute(try s.originals[i].statistics(), try s.reconstructions[i].statistics())))
                // torch-fidelity's order: input1 the generated set (reconstructions), input2 the reference.
                let r = try s.featureRows(p, .reconstructions), o = try s.featureRows(p, .originals)
                do { kid.append((p, try kidMetric(r, o, dimension: 2048, workers: kidWorkers))) } catch { throw PipelineError("KID (\(p.rawValue)): \(error)") }
            }
            self.fid = fid
            self.kid = kid
            inceptionScore = try? s.inceptionScore.result()
            psnr = s.psnr.result
            ssim = zip(SSIMDefinitions.all, s.ssim).map { ($0.key, $1.mean) }
            lpips = s.lpips?.mean
        }

        public func fid(_ p: InceptionProtocol) -> Double? { fid.first { $0.0 == p }?.1.value }
    }

    /// Writes report.json, report.md and the picture into `dir`; returns the Markdown text. `vq`: the model the
    /// run used if this process holds it (a single `eval` run); otherwise (merge) it is loaded again for the picture.
    @discardableResult
    public static func write(_ s: EvalState, to dir: String, vq: LoadedVQ?, picture: PictureCandidates? = nil,
                             warn: WarningSink) throws -> String {
        let scores = try Scores(s)
        try FileSystem.writeAtomically(json(s, scores).render(pretty: true) + "\n", to: (dir as NSString).appendingPathComponent("report.json"))
        let md = markdown(s, scores)
        try FileSystem.writeAtomically(md, to: (dir as NSString).appendingPathComponent("report.md"))
        do {
            try EvalPicture.write(s, dir: dir, vq: vq, held: picture)
        } catch {
            warn("\(EvalPicture.fileName) not written: \(error)")
        }
        return md
    }

    static func num(_ d: Double?) -> JSONValue { d.map { $0.isFinite ? .double($0) : .string(PyFormat.float($0)) } ?? .null }

    /// Where a list of files lives (the folder a `compare` argument named).
    static func folder(_ files: [String]) -> String { files.first.map { FileSystem.parent(of: $0) } ?? "" }

    static func json(_ s: EvalState, _ scores: Scores) -> JSONValue {
        let m = s.meta, id = m.identity
        let standard = id.metrics.inceptionSHA256 == InceptionWeights.standardSHA256
        var items: [(String, JSONValue)] = [("vqrt_version", .string(m.vqrtVersion)), ("run_id", .string(runID(id))),
                                            ("command", .string(id.model == nil ? "compare" : "eval"))]
        if let model = id.model {
            let hyperparameters = (try? JSONValue.parse(model.hyperparameters)) ?? .object([])
            items.append(("model", .object([("family", .string(model.family)), ("checkpoint", .string(model.checkpoint)),
                                            ("checkpoint_sha256", .string(model.checkpointSHA256)),
                                            ("config", model.config.map { .string($0) } ?? .null), ("preset", .string(model.preset)),
                                            ("conv_algorithm", .string(model.convAlgorithm)), ("precision", .string(model.precision)),
                                            ("hyperparameters", hyperparameters)])))
        } else {
            items.append(("compared", .object([("originals", .string(folder(s.files))),
                                               ("reconstructions", .string(folder(s.reconstructionFiles)))])))
        }
        items += [
            ("images", .int(Int64(m.processed))),
            ("shards", .int(Int64(m.shardCount))),
            ("inception_weights", .object([("path", .string(id.metrics.inception)), ("sha256", .string(id.metrics.inceptionSHA256)),
                                           ("standard", .bool(standard))])),
            ("protocols", .array(s.protocols.map { .string($0.rawValue) })),
            ("r_fid", num(scores.fid(.pytorchFID))),
            ("fid", .object(scores.fid.map { ($0.0.rawValue, num($0.1.value)) })),
        ]
        func kid(_ r: KernelInceptionDistance.Result) -> [(String, JSONValue)] {
            [("mean", num(r.mean)), ("std", num(r.std)), ("subsets", .int(Int64(r.subsets))), ("subset_size", .int(Int64(r.subsetSize)))]
        }
        // `kid.mean` etc. are the pytorch-fid features' KID (as `r_fid` is that protocol's FID), so a script reads
        // the same keys whatever --protocols; every protocol's KID is also under its name.
        if let (p, r) = scores.kid.first {
            items.append(("kid", .object(kid(r) + [("protocol", .string(p.rawValue))]
                                         + scores.kid.map { ($0.0.rawValue, .object(kid($0.1))) })))
        } else {
            items.append(("kid", .null))
        }
        let psnr = scores.psnr
        items += [
            ("r_is", .object([("mean", num(scores.inceptionScore?.mean)), ("std", num(scores.inceptionScore?.std)), ("splits", .int(10))])),
            ("psnr_db", .object([("mean", num(psnr.meanPSNR)), ("pooled", num(psnr.pooledPSNR)), ("identical_images", .int(Int64(psnr.identical)))])),
            ("ssim", .object(scores.ssim.map { ($0.0, num($0.1)) })),
            ("lpips", id.metrics.lpips.map { .object([("net", .string($0.net)), ("mean", num(scores.lpips))]) } ?? .null),
        ]
        if let model = s.model, let mid = id.model {
            let usage = model.usage.result
            let qerr = m.quantisationErrorCount > 0 ? m.quantisationErrorSum / Double(m.quantisationErrorCount) : 0
            items += [
                ("mse_model_space", num(model.mse.meanSquaredError)),
                ("codebook_usage", .object([("windowed_mean", num(usage.windowedUsage)), ("windows", .int(Int64(usage.windows))),
                                            ("window_images", .int(Int64(usage.windowImages))), ("used_codes", .int(Int64(usage.usedCodes))),
                                            ("codebook_size", .int(Int64(mid.codebookSize))), ("usage", num(usage.usage)),
                                            ("perplexity", num(usage.perplexity)), ("entropy_bits", num(usage.entropyBits))])),
                ("quantisation_error", num(qerr)),
            ]
        }
        items += [
            ("compute_seconds", num(m.seconds)),
            ("model_seconds", num(m.modelSeconds)),
            ("inception_seconds", num(m.inceptionSeconds)),
            ("images_per_second", num(m.seconds > 0 ? Double(m.processed) / m.seconds : nil)),
        ]
        return .object(items)
    }

    static func markdown(_ s: EvalState, _ scores: Scores) -> String {
        let m = s.meta, id = m.identity
        let standard = id.metrics.inceptionSHA256 == InceptionWeights.standardSHA256
        func f(_ d: Double?, _ digits: Int = 3) -> String { d.map { String(format: "%.\(digits)f", $0) } ?? "n/a" }
        func g(_ d: Double?) -> String { d.map { String(format: "%.4g", $0) } ?? "n/a" }
        let shards = m.shardCount > 1 ? " in \(m.shardCount) shards" : ""
        var md: String
        if let model = id.model {
            md = "# vqrt evaluation\n\n"
            md += "Model: `\(model.family)` (\((model.checkpoint as NSString).lastPathComponent)), preset `\(model.preset)`, \(model.convAlgorithm) convolutions\(model.precision == "bf16" ? " in bf16" : ""), \(m.processed) images\(shards).\n\n"
        } else {
            md = "# vqrt comparison\n\n"
            md += "Originals `\(folder(s.files))` against reconstructions `\(folder(s.reconstructionFiles))`: \(m.processed) pairs matched by file name\(shards).\n\n"
        }
        md += "| metric | value | definition: the tool whose number it reproduces |\n|---|---|---|\n"
        for (p, d) in scores.fid {
            let what = p == .pytorchFID
                ? "\(p.matches): originals vs 8-bit reconstructions, `ToTensor`, `F.interpolate(299, bilinear)`, `2x-1`, pool3, ddof 1"
                : "\(p.matches): the same network on uint8 input, TF1 bilinear resize to 299, `(x-128)/128`"
            md += "| r-FID (\(p.rawValue)) | \(f(d.value, 4)) | \(what) |\n"
        }
        for (p, r) in scores.kid {
            md += "| KID (\(p.rawValue) features) | \(g(r.mean)) ± \(g(r.std)) | torch-fidelity 0.4.0 `kid`: (x·y/d+1)³ kernel, unbiased MMD², \(r.subsets) subsets of \(r.subsetSize), numpy seed 2020; reconstructions as input1, originals as input2\(p == .torchFidelity ? " (torch-fidelity's and torchmetrics' KID)" : "") |\n"
        }
        let isScore = scores.inceptionScore
        md += "| r-IS | \(f(isScore?.mean)) ± \(f(isScore?.std)) | pytorch-image-generation-metrics: reconstructions, pytorch-fid input, 10 splits in input order |\n"
        md += "| PSNR (dB) | \(f(scores.psnr.meanPSNR, 2)) | per image on 8-bit pixels (peak 255), averaged over images |\n"
        for ((key, value), d) in zip(scores.ssim, SSIMDefinitions.all) {
            md += "| SSIM (\(key)) | \(f(value, 4)) | \(d.matches) |\n"
        }
        if let l = id.metrics.lpips {
            md += "| LPIPS (\(l.net)) | \(f(scores.lpips, 4)) | richzhang `lpips` 0.1.4 `LPIPS(net='\(l.net)', version='0.1')` on 8-bit pairs mapped to [-1, 1] |\n"
        }
        if let model = s.model, let mid = id.model {
            let usage = model.usage.result
            let qerr = m.quantisationErrorCount > 0 ? m.quantisationErrorSum / Double(m.quantisationErrorCount) : 0
            md += "| MSE | \(f(model.mse.meanSquaredError, 5)) | model input space, before the 8-bit mapping |\n"
            md += "| codebook usage (per \(usage.windowImages) images) | \(usage.windowedUsage.map { String(format: "%.1f%%", 100 * $0) } ?? "n/a") | rotation_trick's windowed usage |\n"
            md += "| codebook usage (whole run) | \(usage.usedCodes) / \(mid.codebookSize) (\(String(format: "%.1f%%", 100 * usage.usage))), perplexity \(f(usage.perplexity, 1)) | codes used at least once; exp(entropy) of code frequencies |\n"
            md += "| codebook entropy (bits) | \(f(usage.entropyBits, 3)) | bytedance 1d-tokenizer `VQGANEvaluator`: Σ -log2(p + 1e-8)·p over the code frequencies |\n"
            md += "| quantisation error | \(f(qerr, 5)) | mean squared distance from each latent to its code, in the quantizer's space |\n"
        }
        md += "\nThe same images give different numbers under different tools; each row names the implementation it reproduces, so compare a number only with papers whose evaluation used that tool (e.g. torch-fidelity's FID for the 1d-tokenizer evaluator, the LlamaGen SSIM row for LlamaGen's tables).\n\n"
        md += "Inception weights: `\((id.metrics.inception as NSString).lastPathComponent)`" + (standard ? " (the standard pytorch-fid file)." : " (**not** the standard file: scores are not comparable with published ones).") + "\n"
        md += String(format: "Throughput: %.2f images/s over %.1f s of compute. vqrt %@.\n", m.seconds > 0 ? Double(m.processed) / m.seconds : 0, m.seconds, m.vqrtVersion)
        md += "\n`\(EvalPicture.fileName)`: originals (top row) over their reconstructions (bottom row) for the \(EvalPicture.worst) images with the lowest PSNR, the \(EvalPicture.best) with the highest, and \(EvalPicture.random) chosen at random (a fixed seed: the same images every time); each column is labelled with its group and the image's PSNR.\n"
        return md
    }
}
