// `vqrt eval` and `vqrt merge` (cli.md): the whole evaluation in one streaming pass, shardable and resumable, and
// the merge of shard partial files into the report a single run gives (Pipeline/Evaluation).

import ArgumentParser
import Foundation
import Pipeline

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "r-FID, r-IS, PSNR, MSE, codebook usage and quantisation error of a model over an image set.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var inception: InceptionOptions
    @OptionGroup var batch: BatchOptions
    @OptionGroup var common: RunOptions

    @Argument(help: "Image files or directories (a directory: its image files, sorted by name). An unreadable image stops the run: leaving it out would change the scores.")
    var images: [String]

    @Option(help: "Directory for report.json, report.md, the picture and partial-I-of-N.npz state files.")
    var report: String

    @Option(help: "Use only the first N images (at least 2: r-FID needs a covariance).")
    var limit: Int?

    @Option(help: "Evaluate shard I of N (0-based), e.g. 3/16; default from SLURM_ARRAY_TASK_ID/COUNT or JOB_COMPLETION_INDEX.")
    var shard: String?

    @Option(help: "Shard count for Kubernetes indexed jobs (JOB_COMPLETION_INDEX gives the index).")
    var shardCount: Int?

    @Option(help: "Save the partial state every N batches (it is also saved at the end).")
    var saveEvery = 4

    @Flag(help: "Discard the state and report of another run in the report directory instead of refusing to continue.")
    var restart = false

    @Flag(help: "Print where the wall time went (stderr): loading, model, Inception, waiting for images, saves, report.")
    var timing = false

    func validate() throws {
        if let limit, limit < 2 { throw ValidationError("--limit must be at least 2 (r-FID needs a covariance), got \(limit)") }
        guard saveEvery >= 1 else { throw ValidationError("--save-every must be at least 1, got \(saveEvery)") }
        if let shardCount, shardCount < 1 { throw ValidationError("--shard-count must be at least 1, got \(shardCount)") }
        _ = try Eval.shardAssignment(shard, shardCount: shardCount, environment: Knobs.environment)
    }

    func run() throws {
        let started = Clock.seconds()
        var images = try ImageList(self.images)
        if let limit { images = images.prefix(limit) }
        guard images.paths.count >= 2 else { throw PipelineError("r-FID needs at least 2 images, got \(images.paths.count)") }
        let (index, count) = try Eval.shardAssignment(shard, shardCount: shardCount, environment: Knobs.environment)
        guard images.paths.count >= count else {
            throw PipelineError("\(images.paths.count) images cannot be split into \(count) shards")
        }
        var outputs = OutputGuard()
        model.source.register(in: &outputs)
        inception.source.register(in: &outputs)
        outputs.inputs(images)
        outputs.outputDirectory(report, "--report", files: EvalPlan.reportFiles + ["partial-\(index)-of-\(count).npz"])
        try inception.requireFile()
        try outputs.check()
        common.apply()
        let vq = try model.source.load()
        try vq.checkMemory(batchSize: batch.batchSize)
        let (network, check) = try inception.source.load(warn: Console.warn)
        try outputs.prepare()
        var plan = EvalPlan(images: images, reportDirectory: report, threads: common.threadCount)
        plan.shardIndex = index
        plan.shardCount = count
        plan.batchSize = batch.batchSize
        plan.saveEvery = saveEvery
        plan.restart = restart
        let identity = try EvalIdentity(vq: vq, inception: inception.source.path, images: images)
        let evaluation = try Evaluation(plan: plan, vq: vq, inception: InceptionRunner(network), identity: identity,
                                        version: VQRT.configuration.version, warn: Console.warn)
        let m = evaluation.state.meta
        if evaluation.resumedFrom > 0 && !common.quiet {
            Console.info("resuming: \(evaluation.resumedFrom) of \(m.end - m.start) images already evaluated")
        }
        let progress = Progress(label: count > 1 ? "eval \(index)/\(count)" : "eval", quiet: common.quiet)
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
        if count == 1 {
            md = try EvalReport.write(evaluation.state, to: report, vq: vq, picture: evaluation.picture, warn: Console.warn)
        }
        if timing {
            // This process only (a resumed run's earlier compute is not in its wall time).
            let s = evaluation.state.meta, t = evaluation.timings, now = Clock.seconds()
            let model = (s.modelSeconds ?? 0) - computedBefore.0, inceptionTime = (s.inceptionSeconds ?? 0) - computedBefore.1
            let other = s.seconds - computedBefore.2 - model - inceptionTime
            Console.info(String(format: "timing: wall %.3f s = loading %.3f + batches %.3f + report %.3f; batches: model %.3f, Inception %.3f, per-image statistics %.3f, waiting for images %.3f, saves %.3f; wall / (model + Inception) %.3f",
                                now - started, loaded - started, t.loop, now - reportStarted, model, inceptionTime, other,
                                t.waitingForImages, t.saves, (now - started) / max(model + inceptionTime, 1e-9)))
        }
        if let md, !common.quiet { print(md) }
        if count > 1 && !common.quiet {
            Console.info("shard \(index)/\(count) done (\(m.end - m.start) images): \(plan.partialPath)")
            Console.info("when every shard is done: vqrt merge \(report)/partial-*-of-\(count).npz --report \(report)")
        }
    }

    /// `I/N` from --shard, else Slurm array variables, else a Kubernetes indexed job's JOB_COMPLETION_INDEX.
    static func shardAssignment(_ shard: String?, shardCount: Int?, environment env: [String: String]) throws -> (Int, Int) {
        func check(_ i: Int, _ n: Int, _ source: String) throws -> (Int, Int) {
            guard n > 0, i >= 0, i < n else { throw ValidationError("\(source): shard \(i) of \(n) is not a valid assignment") }
            return (i, n)
        }
        if let shard {
            let parts = shard.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else { throw ValidationError("--shard expects I/N, e.g. 0/4, got '\(shard)'") }
            return try check(i, n, "--shard")
        }
        if let id = env["SLURM_ARRAY_TASK_ID"].flatMap(Int.init), let n = env["SLURM_ARRAY_TASK_COUNT"].flatMap(Int.init) {
            let minimum = env["SLURM_ARRAY_TASK_MIN"].flatMap(Int.init) ?? 0
            return try check(id - minimum, n, "SLURM_ARRAY_TASK_ID")
        }
        if let id = env["JOB_COMPLETION_INDEX"].flatMap(Int.init) {
            guard let n = shardCount ?? env["VQRT_SHARD_COUNT"].flatMap(Int.init) else {
                throw ValidationError("JOB_COMPLETION_INDEX is set: pass --shard-count (the job's completions)")
            }
            return try check(id, n, "JOB_COMPLETION_INDEX")
        }
        return (0, 1)
    }
}

/// `vqrt merge PARTIAL... --report DIR`: combines shard partial files into the report a single run gives.
struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Merge eval shards (partial-*.npz) into one report.")

    @Argument(help: "Partial files written by `vqrt eval --shard` (or by Slurm / Kubernetes array tasks).")
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
