// `eval` and `compare`: the whole evaluation in one streaming pass. `eval`: decode -> preset -> model -> 8-bit
// reconstruction; `compare`: decode both images of each pair. Then the same metrics on each (original,
// reconstruction) pair: PSNR, SSIM, LPIPS on the images already decoded, Inception per protocol on originals and
// reconstructions into mergeable accumulators and feature rows on disk; then the report. Memory stays bounded
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
    /// The originals, in order (`compare`: the first folder's images).
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
        (reportDirectory as NSString).appendingPathComponent(EvalPlan.partialName(shard: shard, of: count))
    }

    public static func partialName(shard: Int, of count: Int) -> String { "partial-\(shard)-of-\(count).npz" }

    /// The files `eval`, `compare` and `merge` write in a report directory.
    public static let reportFiles = ["report.json", "report.md", EvalPicture.fileName]

    /// Every file a shard of a run writes in the report directory: the report, its partial state, its feature rows.
    public static func files(shard: Int, of count: Int, protocols: [InceptionProtocol]) -> [String] {
        reportFiles + EvalState.stateFileNames(partial: partialName(shard: shard, of: count), protocols: protocols)
    }
}

/// What a run evaluates: a model's reconstructions of the images, or reconstructions given as files.
public enum EvalSubject {
    /// `eval`: the model reconstructs each image.
    case model(LoadedVQ)
    /// `compare`: the second folder holds each image's reconstruction.
    case pairs(ImagePairs)

    public var vq: LoadedVQ? { if case .model(let vq) = self { return vq }; return nil }
}

/// The networks behind the metrics of a run.
public struct EvalNetworks {
    /// One runner per protocol of the identity, in its order (pytorch-fid first: r-IS is computed from its logits).
    public let inception: [InceptionRunner]
    public let lpips: LPIPS?

    public init(inception model: InceptionV3, protocols: [InceptionProtocol], lpips: LPIPS?) {
        inception = protocols.map { InceptionRunner(model, protocol: $0) }
        self.lpips = lpips
    }
}

public final class Evaluation {
    public let plan: EvalPlan
    public let subject: EvalSubject
    public let networks: EvalNetworks
    public private(set) var state: EvalState
    /// Images already evaluated when this process started (a resumed run).
    public let resumedFrom: Int
    private let warn: WarningSink
    /// The open feature-row files, per protocol: originals, reconstructions.
    private var rows: [[FeatureRows]] = []

    /// Decides where the run starts: afresh, or from this shard's partial file when it is of the same run. Another
    /// run's state in the directory is refused, naming the difference, unless `plan.restart`.
    public init(plan: EvalPlan, subject: EvalSubject, networks: EvalNetworks, identity: EvalIdentity, version: String,
                warn: @escaping WarningSink) throws {
        self.plan = plan
        self.subject = subject
        self.networks = networks
        self.warn = warn
        let meta = EvalMeta(vqrtVersion: version, identity: identity, shardIndex: plan.shardIndex, shardCount: plan.shardCount)
        if plan.restart { Evaluation.discardState(in: plan.reportDirectory) }
        try Evaluation.refuseOtherRuns(in: plan.reportDirectory, identity: identity, shardCount: plan.shardCount)
        FileSystem.removeTemporaries(of: plan.partialPath)
        var reconstructionFiles: [String] = []
        if case .pairs(let pairs) = subject { reconstructionFiles = Array(pairs.b.paths[meta.start..<meta.end]) }
        var state = try EvalState(meta: meta, files: Array(plan.images.paths[meta.start..<meta.end]),
                                  reconstructionFiles: reconstructionFiles)
        if FileSystem.kind(plan.partialPath) == .file {
            let previous = try EvalState(path: plan.partialPath)
            guard previous.meta.start == meta.start, previous.meta.end == meta.end else {
                throw PipelineError(file: plan.partialPath, "covers images \(previous.meta.start)..<\(previous.meta.end), not \(meta.start)..<\(meta.end)")
            }
            state = previous
        }
        // The feature rows the state counts; rows a killed run wrote after its last save are cut off.
        rows = try identity.metrics.protocols.map { p in
            try FeatureSide.allCases.map { side in
                try FeatureRows(path: EvalState.featureRowsPath(partial: plan.partialPath, protocol: p, side: side), width: 2048,
                                rows: state.meta.processed)
            }
        }
        state.featureShards = [(plan.partialPath, state.meta.processed)]
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
        if FileSystem.kind(report) == .file, !names.contains(where: { $0.hasPrefix("partial-") && $0.hasSuffix(".npz") }) {
            let previous = (try? String(contentsOfFile: report, encoding: .utf8)).flatMap { try? JSONValue.parse($0) }
            if previous?["run_id"].map({ $0 == .string(EvalReport.runID(identity)) }) != true {
                throw PipelineError(file: dir, "holds the report of another run (report.json); pass --restart to replace it, or choose another --report directory")
            }
        }
    }

    /// Removes vqrt's own state and report files from `dir` (nothing else).
    static func discardState(in dir: String) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        for name in names where (name.hasPrefix("partial-") && (name.hasSuffix(".npz") || name.hasSuffix(".npy")))
            || name.hasPrefix(".partial-")
            || EvalPlan.reportFiles.contains(name) || EvalPlan.reportFiles.contains(where: { name.hasPrefix(".\($0).tmp-") }) {
            unlink((dir as NSString).appendingPathComponent(name))
        }
    }

    /// Evaluates the rest of this shard, saving every `plan.saveEvery` batches and at the end.
    public func run(progress: ProgressSink) throws {
        let started = Clock.seconds()
        defer { timings.loop += Clock.seconds() - started }
        let m = state.meta
        let range = (m.start + m.processed)..<m.end
        var batches = 0
        progress(state.meta.processed, m.end - m.start)
        func step(_ body: () throws -> Void) throws {
            let t0 = Clock.seconds()
            try body()
            state.meta.seconds += Clock.seconds() - t0
            batches += 1
            if batches % plan.saveEvery == 0 || state.meta.processed == m.end - m.start { try save() }
            progress(state.meta.processed, m.end - m.start)
        }
        switch subject {
        case .model(let vq):
            let reader = BatchReader(paths: plan.images.paths, range: range, preset: vq.preset, batchSize: plan.batchSize,
                                     policy: .stop, keepOriginals: true, threads: plan.threads, warn: warn)
            var waited = Clock.seconds()
            while let b = try reader.next() {
                timings.waitingForImages += Clock.seconds() - waited
                try step {
                    let (originals, reconstructions) = try EvalStep.reconstruct(b.batch, runner: VQRunner(vq), state: &state)
                    try EvalStep.measure(originals: originals, reconstructions: reconstructions, networks: networks,
                                         rows: rows, state: &state, picture: picture)
                }
                waited = Clock.seconds()
            }
        case .pairs(let pairs):
            let reader = PairReader(pairs, range: range, batchSize: plan.batchSize, threads: plan.threads)
            var waited = Clock.seconds()
            while let b = try reader.next() {
                timings.waitingForImages += Clock.seconds() - waited
                try step {
                    try EvalStep.measure(originals: b.a, reconstructions: b.b, networks: networks, rows: rows, state: &state)
                }
                waited = Clock.seconds()
            }
        }
        if state.meta.processed == 0 { try save() }
    }

    /// Flushes the feature rows, then saves the state that counts them.
    private func save() throws {
        let t0 = Clock.seconds()
        for r in rows.joined() { try r.sync() }
        try state.write(to: plan.partialPath)
        state.featureShards = [(plan.partialPath, state.meta.processed)]
        timings.saves += Clock.seconds() - t0
    }

    /// Where this process's time went outside the model and Inception (which `state.meta` accumulates).
    public struct Timings {
        /// The whole of `run`.
        public var loop = 0.0
        /// Waiting for the batch reader (the first batch, and any batch not read ahead in time).
        public var waitingForImages = 0.0
        /// Flushing feature rows and writing the partial state.
        public var saves = 0.0
    }
    public private(set) var timings = Timings()

    /// The images the report's picture can show, kept during the run (bounded; `eval` only: `compare` reads the
    /// chosen pairs' files again).
    public private(set) lazy var picture = PictureCandidates(count: state.meta.end - state.meta.start)
}

/// One batch: the model's part (`eval`), then the metrics of the pairs, folded into the accumulators.
enum EvalStep {
    /// Reconstructs a batch and folds the model's own statistics in; returns the 8-bit originals and reconstructions.
    static func reconstruct(_ batch: ImageBatch, runner: VQRunner, state: inout EvalState) throws -> ([RGBImage], [RGBImage]) {
        guard let originals = batch.originals, state.model != nil else { throw PipelineError("internal: originals missing") }
        let n = batch.count
        let modelStarted = Clock.seconds()
        let (encoded, output) = try runner.reconstruct(batch)
        state.meta.modelSeconds = (state.meta.modelSeconds ?? 0) + Clock.seconds() - modelStarted
        try state.model!.mse.add(batch.tensor, output.raw)
        let reconstructions = try (0..<n).map { try output.image($0, preset: runner.preset) }
        try state.model!.usage.add(codes: encoded.codes.map(Int64.init), images: n)
        state.meta.quantisationErrorSum += encoded.quantizationError.reduce(0.0) { $0 + Double($1) }
        state.meta.quantisationErrorCount += encoded.quantizationError.count
        return (originals, reconstructions)
    }

    /// PSNR, SSIM and LPIPS of each pair; Inception features of both sides under each protocol (the 8-bit images
    /// exactly as each tool would read them back from PNG files) into the FID statistics, the feature rows (KID) and
    /// r-IS.
    static func measure(originals: [RGBImage], reconstructions: [RGBImage], networks: EvalNetworks, rows: [[FeatureRows]],
                        state: inout EvalState, picture: PictureCandidates? = nil) throws {
        let n = originals.count
        for k in 0..<n {
            let (o, r) = (originals[k], reconstructions[k])
            var one = PSNRStatistics()
            try one.add(original: o.pixels, reconstruction: r.pixels, images: 1)
            let psnr = one.result.meanPSNR ?? .infinity
            picture?.offer(index: state.perImagePSNR.count, psnr: psnr, original: o, reconstruction: r)
            state.perImagePSNR.append(psnr)
            try state.psnr.add(original: o.pixels, reconstruction: r.pixels, images: 1)
            for (i, d) in SSIMDefinitions.all.enumerated() {
                let v: Double
                do { v = try d.ssim(o, r) } catch { throw PipelineError(file: state.files[state.meta.processed + k], "SSIM: \(error)") }
                try state.ssim[i].add(v)
                state.perImageSSIM[i].append(v)
            }
        }
        if let lpips = networks.lpips {
            let d = try lpips.distances(pairs: originals, reconstructions)
            for v in d { try state.lpips!.add(v) }
            state.perImageLPIPS += d
        }
        let inceptionStarted = Clock.seconds()
        defer { state.meta.inceptionSeconds = (state.meta.inceptionSeconds ?? 0) + Clock.seconds() - inceptionStarted }
        for (i, runner) in networks.inception.enumerated() {
            let wantLogits = runner.inputProtocol == .pytorchFID
            let o = try runner.features(originals, logits: false)
            let r = try runner.features(reconstructions, logits: wantLogits)
            try state.originals[i].add(o.pool3)
            try state.reconstructions[i].add(r.pool3)
            try rows[i][0].append(o.pool3.toArray())
            try rows[i][1].append(r.pool3.toArray())
            if wantLogits, let logits = r.logits { try state.inceptionScore.add(logits: logits) }
        }
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
        try merged.checkFeatureRows()
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
