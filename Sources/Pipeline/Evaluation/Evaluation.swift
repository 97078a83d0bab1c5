// `eval`: the whole evaluation in one streaming pass: decode -> preset -> model -> 8-bit reconstruction ->
// Inception on originals and reconstructions -> mergeable accumulators; then the report. Memory stays bounded
// whatever the number of images. A shard evaluates a contiguous slice and leaves a partial file for `merge`; a rerun
// with the same arguments resumes from it; a report directory holding another run's state is refused.

import Foundation
import Imaging
import Metrics
import Models
import NPY
import Tensor
import TorchFormats

public struct EvalPlan {
    public var images: ImageList
    public var reportDirectory: String
    public var shardIndex = 0
    public var shardCount = 1
    public var batchSize = 8
    /// Save the partial state every this many batches (and at the end).
    public var saveEvery = 4
    public var threads: Int
    /// Discard another run's state in the report directory instead of refusing it.
    public var restart = false

    public init(images: ImageList, reportDirectory: String, threads: Int) {
        self.images = images
        self.reportDirectory = reportDirectory
        self.threads = threads
    }

    public var partialPath: String { partialPath(shard: shardIndex, of: shardCount) }
    func partialPath(shard: Int, of count: Int) -> String {
        (reportDirectory as NSString).appendingPathComponent("partial-\(shard)-of-\(count).npz")
    }

    /// The files `eval` and `merge` write in a report directory.
    public static let reportFiles = ["report.json", "report.md", EvalPicture.fileName]
}

public final class Evaluation {
    public let plan: EvalPlan
    public let vq: LoadedVQ
    public let inception: InceptionRunner
    public private(set) var state: EvalState
    /// Images already evaluated when this process started (a resumed run).
    public let resumedFrom: Int
    private let warn: WarningSink

    /// Decides where the run starts: afresh, or from this shard's partial file when it is of the same run. Another
    /// run's state in the directory is refused, naming the difference, unless `plan.restart`.
    public init(plan: EvalPlan, vq: LoadedVQ, inception: InceptionRunner, identity: EvalIdentity, version: String,
                warn: @escaping WarningSink) throws {
        self.plan = plan
        self.vq = vq
        self.inception = inception
        self.warn = warn
        let meta = EvalMeta(vqrtVersion: version, identity: identity, shardIndex: plan.shardIndex, shardCount: plan.shardCount)
        if plan.restart { Evaluation.discardState(in: plan.reportDirectory) }
        try Evaluation.refuseOtherRuns(in: plan.reportDirectory, identity: identity, shardCount: plan.shardCount)
        FileSystem.removeTemporaries(of: plan.partialPath)
        var state = try EvalState(meta: meta, files: Array(plan.images.paths[meta.start..<meta.end]))
        if FileSystem.kind(plan.partialPath) == .file {
            let previous = try EvalState(path: plan.partialPath)
            guard previous.meta.start == meta.start, previous.meta.end == meta.end else {
                throw PipelineError(file: plan.partialPath, "covers images \(previous.meta.start)..<\(previous.meta.end), not \(meta.start)..<\(meta.end)")
            }
            state = previous
        }
        self.state = state
        resumedFrom = state.meta.processed
    }

    /// Every vqrt state file in `dir` whose run differs from `identity`, or that splits it into another number of
    /// shards, is refused: continuing would mix two runs' numbers.
    static func refuseOtherRuns(in dir: String, identity: EvalIdentity, shardCount: Int) throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        for name in names.sorted() where name.hasPrefix("partial-") && name.hasSuffix(".npz") {
            let path = (dir as NSString).appendingPathComponent(name)
            let other: EvalMeta
            do { other = try EvalState.meta(at: path) } catch {
                throw PipelineError(file: path, "cannot tell which run it belongs to (\(error.text(about: path))); pass --restart to discard the report directory's state")
            }
            let differences = identity.differences(from: other.identity)
            if !differences.isEmpty {
                throw PipelineError(file: dir, "holds the state of another run (\(name): \(differences.joined(separator: "; "))); pass --restart to discard it, or choose another --report directory")
            }
            if other.shardCount != shardCount {
                throw PipelineError(file: dir, "holds this run split into \(other.shardCount) shard(s) (\(name)), not \(shardCount); pass --restart to discard it")
            }
        }
        let report = (dir as NSString).appendingPathComponent("report.json")
        if FileSystem.kind(report) == .file, !names.contains(where: { $0.hasPrefix("partial-") }) {
            let previous = (try? String(contentsOfFile: report, encoding: .utf8)).flatMap { try? JSONValue.parse($0) }
            if previous?["run_id"].map({ $0 == .string(EvalReport.runID(identity)) }) != true {
                throw PipelineError(file: dir, "holds the report of another run (report.json); pass --restart to replace it, or choose another --report directory")
            }
        }
    }

    /// Removes vqrt's own state and report files from `dir` (nothing else).
    static func discardState(in dir: String) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        for name in names where (name.hasPrefix("partial-") && name.hasSuffix(".npz")) || name.hasPrefix(".partial-")
            || EvalPlan.reportFiles.contains(name) || EvalPlan.reportFiles.contains(where: { name.hasPrefix(".\($0).tmp-") }) {
            unlink((dir as NSString).appendingPathComponent(name))
        }
    }

    /// Evaluates the rest of this shard, saving every `plan.saveEvery` batches and at the end.
    public func run(progress: ProgressSink) throws {
        let started = Clock.seconds()
        defer { timings.loop += Clock.seconds() - started }
        let m = state.meta
        let reader = BatchReader(paths: plan.images.paths, range: (m.start + m.processed)..<m.end, preset: vq.preset,
                                 batchSize: plan.batchSize, policy: .stop, keepOriginals: true, threads: plan.threads, warn: warn)
        var batches = 0
        progress(state.meta.processed, m.end - m.start)
        while true {
            let waited = Clock.seconds()
            guard let b = try reader.next() else { break }
            let t0 = Clock.seconds()
            timings.waitingForImages += t0 - waited
            try EvalStep.run(b.batch, runner: VQRunner(vq), inception: inception, state: &state, picture: picture)
            state.meta.seconds += Clock.seconds() - t0
            batches += 1
            if batches % plan.saveEvery == 0 || state.meta.processed == m.end - m.start { try save() }
            progress(state.meta.processed, m.end - m.start)
        }
        if state.meta.processed == 0 { try save() }
    }

    private func save() throws {
        let t0 = Clock.seconds()
        try state.write(to: plan.partialPath)
        timings.saves += Clock.seconds() - t0
    }

    /// Where this process's time went outside the model and Inception (which `state.meta` accumulates).
    public struct Timings {
        /// The whole of `run`.
        public var loop = 0.0
        /// Waiting for the batch reader (the first batch, and any batch not read ahead in time).
        public var waitingForImages = 0.0
        /// Writing the partial state.
        public var saves = 0.0
    }
    public private(set) var timings = Timings()

    /// The images the report's picture can show, kept during the run (bounded).
    public private(set) lazy var picture = PictureCandidates(count: state.meta.end - state.meta.start)
}

/// One batch through the model and Inception, folded into the accumulators.
enum EvalStep {
    static func run(_ batch: ImageBatch, runner: VQRunner, inception: InceptionRunner, state: inout EvalState,
                    picture: PictureCandidates? = nil) throws {
        guard let originals = batch.originals else { throw PipelineError("internal: originals missing") }
        let n = batch.count
        let modelStarted = Clock.seconds()
        let (encoded, output) = try runner.reconstruct(batch)
        state.meta.modelSeconds = (state.meta.modelSeconds ?? 0) + Clock.seconds() - modelStarted
        try state.mse.add(batch.tensor, output.raw)
        var reconstructions: [RGBImage] = []
        for k in 0..<n {
            let r = try output.image(k, preset: runner.preset)
            reconstructions.append(r)
            var one = PSNRStatistics()
            try one.add(original: originals[k].pixels, reconstruction: r.pixels, images: 1)
            let psnr = one.result.meanPSNR ?? .infinity
            picture?.offer(index: state.perImagePSNR.count, psnr: psnr, original: originals[k], reconstruction: r)
            state.perImagePSNR.append(psnr)
            try state.psnr.add(original: originals[k].pixels, reconstruction: r.pixels, images: 1)
        }
        try state.usage.add(codes: encoded.codes.map(Int64.init), images: n)
        state.meta.quantisationErrorSum += encoded.quantizationError.reduce(0.0) { $0 + Double($1) }
        state.meta.quantisationErrorCount += encoded.quantizationError.count
        // Inception sees the 8-bit images exactly as pytorch-fid would read them back from PNG files.
        let inceptionStarted = Clock.seconds()
        let o = try inception.features(originals, logits: false)
        let r = try inception.features(reconstructions, logits: true)
        state.meta.inceptionSeconds = (state.meta.inceptionSeconds ?? 0) + Clock.seconds() - inceptionStarted
        try state.originals.add(o.pool3)
        try state.reconstructions.add(r.pool3)
        if let logits = r.logits { try state.inceptionScore.add(logits: logits) }
        state.meta.processed += n
    }
}

/// Combines shard partial files into the state a single run gives.
public enum EvalMerge {
    public static func merge(_ paths: [String]) throws -> EvalState {
        var states = try paths.map { try EvalState(path: $0) }
        states.sort { $0.meta.start < $1.meta.start }
        guard var merged = states.first else { throw PipelineError("no partial files given") }
        guard merged.meta.start == 0 else { throw PipelineError("the first shard starts at image \(merged.meta.start), not 0: a shard is missing") }
        for s in states where s.meta.processed != s.meta.end - s.meta.start {
            throw PipelineError("shard \(s.meta.shardIndex)/\(s.meta.shardCount) is unfinished (\(s.meta.processed) of \(s.meta.end - s.meta.start) images): rerun it")
        }
        for s in states.dropFirst() { try merged.merge(s) }
        guard merged.meta.end == merged.meta.identity.total, merged.meta.processed == merged.meta.identity.total else {
            throw PipelineError("the shards cover \(merged.meta.processed) of \(merged.meta.identity.total) images: a shard is missing")
        }
        merged.meta.shardCount = states.count
        return merged
    }
}

public enum Clock {
    /// Monotonic seconds.
    public static func seconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
