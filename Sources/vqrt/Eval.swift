// `vqrt eval`: the whole evaluation in one streaming pass (cli.md): decode → preset → model → 8-bit reconstruction
// → Inception on originals and reconstructions → mergeable accumulators; then `report.json`, `report.md` and a
// picture. Memory stays bounded whatever the number of images. `--shard I/N` (or Slurm / Kubernetes array
// variables) evaluates a deterministic contiguous slice and leaves a partial file for `vqrt merge`. A rerun with
// the same arguments resumes from the partial file.

import ArgumentParser
import Foundation
import Imaging
import Metrics
import Models
import NPY
import Tensor

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "r-FID, r-IS, PSNR, MSE, codebook usage and quantisation error of a model over an image set.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var inception: InceptionOptions

    @Argument(help: "Image files or directories.")
    var images: [String]

    @Option(help: "Directory for report.json, report.md, the picture and partial files.")
    var report: String

    @Option(help: "Images per batch.")
    var batchSize = 8

    @Option(help: "Use only the first N images.")
    var limit: Int?

    @Option(help: "Evaluate shard I of N (0-based), e.g. 3/16; default from SLURM_ARRAY_TASK_ID/COUNT or JOB_COMPLETION_INDEX.")
    var shard: String?

    @Option(help: "Shard count for Kubernetes indexed jobs (JOB_COMPLETION_INDEX gives the index).")
    var shardCount: Int?

    @Option(help: "Save the partial state every N batches (it is also saved at the end).")
    var saveEvery = 4

    @Option(help: "Threads (default: all cores).")
    var threads: Int?

    @Flag(help: "No progress output.")
    var quiet = false

    func run() throws {
        try reportingErrors(file: nil) {
            guard batchSize > 0, saveEvery > 0 else { throw ValidationError("--batch-size and --save-every must be positive") }
            if let threads { Threading.setThreads(threads) }
            var paths = try ImageInputs.expand(images)
            if let limit { paths = Array(paths.prefix(max(0, limit))) }
            let (index, count) = try Eval.shardAssignment(shard, shardCount: shardCount, environment: ProcessInfo.processInfo.environment)
            let total = paths.count
            let start = total * index / count, end = total * (index + 1) / count
            try FileManager.default.createDirectory(atPath: report, withIntermediateDirectories: true)
            let partialPath = (report as NSString).appendingPathComponent("partial-\(index)-of-\(count).npz")

            let loaded = try reportingFile(model.checkpoint) { try model.load() }
            let preset = try model.preset(for: loaded.model)
            let inceptionNet = try inception.load(quiet: quiet)
            let meta = EvalMeta(vqrtVersion: VQRT.configuration.version, checkpoint: absolute(model.checkpoint),
                                checkpointBytes: loaded.checkpoint.fileSize, config: model.config.map(absolute),
                                family: loaded.model.family.rawValue,
                                preset: preset.tensorSize.map { "\(preset.name)@\($0.height)" } ?? preset.name,
                                convAlgorithm: model.effectiveConvAlgorithm, precision: model.precision,
                                modelSummary: loaded.model.summary.map { [$0.0, $0.1] },
                                codebookSize: loaded.model.codebookSize, inception: absolute(inception.path),
                                inceptionSHA256: try? InceptionWeights.sha256(path: inception.path),
                                filesSHA256: SHA256Text.hex(paths.joined(separator: "\n")), total: total,
                                shardIndex: index, shardCount: count, start: start, end: end)
            var state = try EvalState(meta: meta, files: Array(paths[start..<end]))
            if FileManager.default.fileExists(atPath: partialPath) {
                let previous = try EvalState(path: partialPath)
                if previous.meta.sameRun(as: meta), previous.meta.start == start, previous.meta.end == end {
                    state = previous
                    if !quiet && state.meta.processed > 0 { Console.info("resuming: \(state.meta.processed) of \(end - start) images already evaluated") }
                } else if !quiet {
                    Console.warning("\(partialPath) belongs to another run; starting afresh")
                }
            }
            let progress = Progress(total: end - start, label: count > 1 ? "eval \(index)/\(count)" : "eval", quiet: quiet)
            progress.advance(by: state.meta.processed)
            var batches = 0
            var cursor = start + state.meta.processed
            while cursor < end {
                let t0 = Clock.seconds()
                let range = cursor..<min(cursor + batchSize, end)
                try EvalStep.run(paths: Array(paths[range]), model: loaded.model, preset: preset, inception: inceptionNet,
                                 threads: threads ?? ProcessInfo.processInfo.activeProcessorCount, state: &state)
                cursor = range.upperBound
                state.meta.seconds += Clock.seconds() - t0
                batches += 1
                if batches % saveEvery == 0 || cursor == end { try state.write(to: partialPath) }
                progress.advance(by: range.count)
            }
            if state.meta.processed == 0 { try state.write(to: partialPath) }
            if count == 1 {
                try EvalReport.write(state, to: report, quiet: quiet, model: loaded.model)
            } else if !quiet {
                Console.info("shard \(index)/\(count) done (\(end - start) images): \(partialPath)")
                Console.info("when every shard is done: vqrt merge \(report)/partial-*-of-\(count).npz --report \(report)")
            }
        }
    }

    /// `I/N` from --shard, else Slurm array variables, else a Kubernetes indexed job's JOB_COMPLETION_INDEX.
    static func shardAssignment(_ shard: String?, shardCount: Int?, environment env: [String: String]) throws -> (Int, Int) {
        func check(_ i: Int, _ n: Int, _ source: String) throws -> (Int, Int) {
            guard n > 0, i >= 0, i < n else { throw ValidationError("\(source): shard \(i) of \(n) is not a valid assignment") }
            return (i, n)
        }
        if let shard {
            let parts = shard.split(separator: "/")
            guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else { throw ValidationError("--shard expects I/N, e.g. 0/4") }
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

/// One batch through the model and Inception, folded into the accumulators.
enum EvalStep {
    static func run(paths: [String], model: VQModel, preset: Preset, inception: InceptionV3, threads: Int, state: inout EvalState) throws {
        let batch = BatchLoader.load(paths: paths, preset: preset, threads: threads, keepOriginals: true)
        // Every image counts towards the scores: an unreadable one stops the run (as pytorch-fid does) rather
        // than silently changing what is measured.
        if let f = batch.failures.first { throw CLIError("\(f.error)") }
        guard let originals = batch.originals else { throw CLIError("internal: originals missing") }
        let n = batch.count
        let x = try Tensor(shape: [n, 3, batch.height, batch.width], values: batch.tensor)
        let (encoded, y) = try model.reconstruct(x)
        let out = y.plain().toArray()
        try state.mse.add(batch.tensor, out)
        let h = y.shape[2], w = y.shape[3], plane = 3 * h * w
        var recons: [RGBImage] = []
        for k in 0..<n {
            let r = try preset.pixels(chw: Array(out[(k * plane)..<((k + 1) * plane)]), width: w, height: h)
            recons.append(r)
            var one = PSNRStatistics()
            try one.add(original: originals[k].pixels, reconstruction: r.pixels, images: 1)
            state.perImagePSNR.append(one.result.meanPSNR ?? .infinity)
            try state.psnr.add(original: originals[k].pixels, reconstruction: r.pixels, images: 1)
        }
        try state.usage.add(codes: encoded.codes.map(Int64.init), images: n)
        state.meta.quantisationErrorSum += encoded.quantizationError.reduce(0.0) { $0 + Double($1) }
        state.meta.quantisationErrorCount += encoded.quantizationError.count
        // Inception sees the 8-bit images exactly as pytorch-fid would read them back from PNG files.
        let inceptionPreset = Preset.inception()
        func features(_ imgs: [RGBImage], logits: Bool) throws -> (Tensor, Tensor?) {
            var values: [Float] = []
            values.reserveCapacity(imgs.count * 3 * 299 * 299)
            for img in imgs { values += try inceptionPreset.tensor(img) }
            return try inception(try Tensor(shape: [imgs.count, 3, 299, 299], values: values), logits: logits)
        }
        let (po, _) = try features(originals, logits: false)
        let (pr, lr) = try features(recons, logits: true)
        try state.originals.add(po)
        try state.reconstructions.add(pr)
        if let lr { try state.inceptionScore.add(logits: lr) }
        state.meta.processed += n
    }
}

/// `vqrt merge PARTIAL... --report DIR`: combines shard partial files into the report a single run gives.
struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Merge eval shards (partial-*.npz) into one report.")

    @Argument(help: "Partial files written by `vqrt eval --shard`.")
    var partials: [String]

    @Option(help: "Directory for report.json, report.md and the picture.")
    var report: String

    @Flag(help: "No progress output.")
    var quiet = false

    func run() throws {
        try reportingErrors(file: nil) {
            var states = try partials.map { p in try reportingFile(p) { try EvalState(path: p) } }
            states.sort { $0.meta.start < $1.meta.start }
            guard var merged = states.first else { throw CLIError("no partial files given") }
            guard merged.meta.start == 0 else { throw CLIError("the first shard starts at image \(merged.meta.start), not 0") }
            for s in states.dropFirst() { try merged.merge(s) }
            for s in states where s.meta.processed != s.meta.end - s.meta.start {
                throw CLIError("shard \(s.meta.shardIndex)/\(s.meta.shardCount) is unfinished (\(s.meta.processed) of \(s.meta.end - s.meta.start) images): rerun it")
            }
            guard merged.meta.end == merged.meta.total, merged.meta.processed == merged.meta.total else {
                throw CLIError("the shards cover \(merged.meta.processed) of \(merged.meta.total) images")
            }
            merged.meta.shardCount = states.count
            try FileManager.default.createDirectory(atPath: report, withIntermediateDirectories: true)
            try EvalReport.write(merged, to: report, quiet: quiet)
        }
    }
}

func absolute(_ path: String) -> String {
    path.hasPrefix("/") ? path : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(path)
}
