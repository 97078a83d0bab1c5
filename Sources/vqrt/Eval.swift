// `vqrt eval` and `vqrt merge` (cli.md): the whole evaluation of a model in one streaming pass, shardable and
// resumable, and the merge of shard partial files into the report a single run gives (Pipeline/Evaluation).
// `compare` (Compare.swift) runs the same evaluation on reconstructions given as files: `EvaluationRun` is what the
// two share.

import ArgumentParser
import Foundation
import Pipeline

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "r-FID (per protocol), KID, r-IS, PSNR, SSIM, LPIPS, MSE, codebook usage and entropy, quantisation error of a model over an image set.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var metrics: MetricSetOptions
    @OptionGroup var batch: BatchOptions
    @OptionGroup var common: RunOptions
    @OptionGroup var sharding: ShardOptions

    @Argument(help: "Image files or directories (a directory: its image files, sorted by name). An unreadable image stops the run: leaving it out would change the scores.")
    var images: [String]

    @Option(help: "Directory for report.json, report.md, the picture, and the partial-I-of-N state files (an .npz, and .npy feature rows for KID).")
    var report: String

    @Option(help: "Use only the first N images (at least 2: r-FID needs a covariance).")
    var limit: Int?

    @Flag(help: "Print where the wall time went (stderr): loading, model, Inception, waiting for images, saves, report.")
    var timing = false

    func validate() throws {
        if let limit, limit < 2 { throw ValidationError("--limit must be at least 2 (r-FID needs a covariance), got \(limit)") }
    }

    func run() throws {
        var images = try ImageList(self.images)
        if let limit { images = images.prefix(limit) }
        guard images.paths.count >= 2 else { throw PipelineError("r-FID needs at least 2 images, got \(images.paths.count)") }
        var run = try EvaluationRun(metrics: metrics, batch: batch, common: common, sharding: sharding, report: report,
                                    total: images.paths.count)
        run.timing = timing
        var outputs = OutputGuard()
        model.source.register(in: &outputs)
        outputs.inputs(images)
        try run.check(&outputs)
        let vq = try model.source.load()
        try vq.checkMemory(batchSize: batch.batchSize)
        try run.evaluate(images: images, subject: .model(vq), outputs: outputs) { try EvalIdentity(vq: vq, metrics: $0, images: images) }
    }
}

/// The metric options of `eval` and `compare`.
struct MetricSetOptions: ParsableArguments {
    @OptionGroup var inception: InceptionOptions
    @OptionGroup var protocols: ProtocolsOption
    @OptionGroup var lpips: LPIPSOptions
    @OptionGroup var kid: KIDOptions

    func validate() throws { _ = try lpips.optionalSource() }
}

/// What `eval` and `compare` share: the checks before compute, then load, resume, evaluate, report.
struct EvaluationRun {
    let metrics: MetricSetOptions
    let batch: BatchOptions
    let common: RunOptions
    let report: String
    let total: Int
    let shardIndex: Int, shardCount: Int
    let sharding: ShardOptions
    let protocols: [InceptionProtocol]
    let lpips: LPIPSSource?
    /// Print where the wall time went (eval --timing), counted from here: before the model is loaded.
    var timing = false
    let started = Clock.seconds()

    init(metrics: MetricSetOptions, batch: BatchOptions, common: RunOptions, sharding: ShardOptions, report: String, total: Int) throws {
        self.metrics = metrics; self.batch = batch; self.common = common; self.sharding = sharding; self.report = report
        self.total = total
        (shardIndex, shardCount) = try sharding.assignment()
        guard total >= shardCount else { throw PipelineError("\(total) images cannot be split into \(shardCount) shards") }
        protocols = try metrics.protocols.list()
        lpips = try metrics.lpips.optionalSource()
    }

    /// Registers the metric files and the report directory, checks every input and what KID will be asked.
    func check(_ outputs: inout OutputGuard) throws {
        metrics.inception.source.register(in: &outputs)
        lpips?.register(in: &outputs)
        outputs.outputDirectory(report, "--report", files: EvalPlan.files(shard: shardIndex, of: shardCount, protocols: protocols))
        try metrics.inception.requireFile()
        try lpips?.requireFiles()
        try metrics.kid.settings.check(countA: total, countB: total, names: ("the reconstructions", "the originals"))
        // The report holds every pool3 feature of both sides in memory for KID (one protocol at a time).
        try Memory.require(Memory.product(2, total, 2048, 4), for: "KID over \(total) images (their pool3 features)",
                           advice: "KID needs every feature in memory; evaluate fewer images (--limit)")
        try outputs.check()
        common.apply()
    }

    /// Loads the networks, resumes or starts the shard, evaluates it and writes the report (a single shard) or says
    /// how to merge.
    func evaluate(images: ImageList, subject: EvalSubject, outputs: OutputGuard,
                  identity: (MetricIdentity) throws -> EvalIdentity) throws {
        let (network, check) = try metrics.inception.source.load(warn: Console.warn)
        let lpipsModel = try lpips?.load()
        try outputs.prepare()
        var plan = EvalPlan(images: images, reportDirectory: report, threads: common.threadCount)
        plan.shardIndex = shardIndex
        plan.shardCount = shardCount
        plan.batchSize = batch.batchSize
        plan.saveEvery = sharding.saveEvery
        plan.restart = sharding.restart
        let metricIdentity = try MetricIdentity(inception: metrics.inception.source.path, protocols: protocols,
                                                lpips: try lpips?.identity(), kid: metrics.kid.settings)
        let evaluation = try Evaluation(plan: plan, subject: subject,
                                        networks: EvalNetworks(inception: network, protocols: protocols, lpips: lpipsModel),
                                        identity: try identity(metricIdentity), version: VQRT.configuration.version, warn: Console.warn)
        let m = evaluation.state.meta
        if evaluation.resumedFrom > 0 && !common.quiet {
            Console.info("resuming: \(evaluation.resumedFrom) of \(m.end - m.start) images already evaluated")
        }
        let label = subject.vq == nil ? "compare" : "eval"
        let progress = Progress(label: shardCount > 1 ? "\(label) \(shardIndex)/\(shardCount)" : label, quiet: common.quiet)
        let loaded = Clock.seconds()
        let computedBefore = (m.modelSeconds ?? 0, m.inceptionSeconds ?? 0, m.seconds)
        try evaluation.run(progress: progress.sink)
        check.report()
        if !common.quiet {
            Console.info(String(format: "evaluated %d image(s) in this run (%.1f s)", progress.computed, progress.elapsed)
                         + (evaluation.resumedFrom > 0 ? ", after resuming from \(evaluation.resumedFrom)" : ""))
        }
        let reportStarted = Clock.seconds()
        var md: String?
        if shardCount == 1 {
            md = try EvalReport.write(evaluation.state, to: report, vq: subject.vq, picture: evaluation.picture, warn: Console.warn)
        }
        if timing {
            // This process only (a resumed run's earlier compute is not in its wall time).
            let s = evaluation.state.meta, t = evaluation.timings, now = Clock.seconds()
            let model = (s.modelSeconds ?? 0) - computedBefore.0, inceptionTime = (s.inceptionSeconds ?? 0) - computedBefore.1
            let other = s.seconds - computedBefore.2 - model - inceptionTime
            Console.info(String(format: "timing: wall %.3f s = loading %.3f + batches %.3f + report %.3f; batches: model %.3f, Inception and per-image metrics %.3f, other per-image statistics %.3f, waiting for images %.3f, saves %.3f; wall / (model + Inception) %.3f",
                                now - started, loaded - started, t.loop, now - reportStarted, model, inceptionTime, other,
                                t.waitingForImages, t.saves, (now - started) / max(model + inceptionTime, 1e-9)))
        }
        if let md, !common.quiet {
            print(md)
        } else if shardCount > 1 && !common.quiet {
            Console.info("shard \(shardIndex)/\(shardCount) done (\(m.end - m.start) images): \(plan.partialPath)")
            Console.info("when every shard is done: vqrt merge \(report)/partial-*-of-\(shardCount).npz --report \(report)")
        }
    }
}

/// `vqrt merge PARTIAL... --report DIR`: combines shard partial files into the report a single run gives.
struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Merge eval or compare shards (partial-*.npz, with their feature rows beside them) into one report.")

    @Argument(help: "Partial files written by `vqrt eval --shard` or `vqrt compare --shard` (or by Slurm / Kubernetes array tasks).")
    var partials: [String]

    @Option(help: "Directory for report.json, report.md and the picture.")
    var report: String

    @Flag(help: "Do not print the report.")
    var quiet = false

    func run() throws {
        var outputs = OutputGuard()
        for p in partials {
            try FileSystem.requireReadableFile(p)
            outputs.input(p, "a partial file")
        }
        outputs.outputDirectory(report, "--report", files: EvalPlan.reportFiles)
        try outputs.check()
        let merged = try EvalMerge.merge(partials)
        try outputs.prepare()
        let md = try EvalReport.write(merged, to: report, vq: nil, warn: Console.warn)
        if !quiet { print(md) }
    }
}
