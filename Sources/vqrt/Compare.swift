// `vqrt compare ORIGINALS RECONSTRUCTIONS --report DIR` (cli.md "Further metrics"): eval's metric set for two
// image folders from any tokenizer, even one vqrt cannot run: FID and KID per protocol, r-IS of the
// reconstructions, PSNR, SSIM, LPIPS; pairs matched by file name; eval's report files; shardable and resumable.

import ArgumentParser
import Foundation
import Pipeline

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Every reconstruction metric of eval (FID and KID per protocol, r-IS, PSNR, SSIM, LPIPS) for reconstructions given as files.")

    @OptionGroup var metrics: MetricSetOptions
    @OptionGroup var batch: BatchOptions
    @OptionGroup var common: RunOptions
    @OptionGroup var sharding: ShardOptions

    @Argument(help: "The original images (a directory; pairs are matched by file name without the extension).")
    var originals: String

    @Argument(help: "Their reconstructions (a directory holding an image of each name, of the same size).")
    var reconstructions: String

    @Option(help: "Directory for report.json, report.md, the picture, and the partial-I-of-N state files (an .npz, and .npy feature rows for KID).")
    var report: String

    @Option(help: "Use only the first N pairs (at least 2: FID needs a covariance).")
    var limit: Int?

    func validate() throws {
        if let limit, limit < 2 { throw ValidationError("--limit must be at least 2 (FID needs a covariance), got \(limit)") }
    }

    func run() throws {
        var pairs = try ImagePairs(originals, reconstructions)
        if let limit { pairs = pairs.prefix(limit) }
        guard pairs.count >= 2 else { throw PipelineError("FID needs at least 2 pairs, got \(pairs.count)") }
        let run = try EvaluationRun(metrics: metrics, batch: batch, common: common, sharding: sharding, report: report, total: pairs.count)
        var outputs = OutputGuard()
        pairs.register(in: &outputs)
        try run.check(&outputs)
        try run.evaluate(images: pairs.a, subject: .pairs(pairs), outputs: outputs) { EvalIdentity(pairs: pairs, metrics: $0) }
    }
}
