// `vqrt features`, `fid-stats`, `fid`, `is` (cli.md): Inception-v3 features, FID and its statistics files under
// either protocol (pytorch-fid's or torch-fidelity's input pipeline), and pytorch-image-generation-metrics' Inception
// Score, over images in the order given.

import ArgumentParser
import Foundation
import Metrics
import Models
import Pipeline
import TorchFormats

struct Features: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inception-v3 (FID variant) features: pool3 [N, 2048] and the unbiased fc logits [N, 1008] used for IS.")

    @OptionGroup var inception: InceptionOptions
    @OptionGroup var inputProtocol: ProtocolOption
    @OptionGroup var batch: BatchOptions
    @OptionGroup var common: RunOptions
    @OptionGroup var failures: FailureOptions

    @Argument(help: "Image files or directories (a directory: its image files, sorted by name).")
    var images: [String]

    @Option(help: "Output .npz with pool3 (float32), logits (float32), files (the inputs the rows hold, in order) and protocol.")
    var output: String

    func run() throws {
        let images = try ImageList(self.images)
        let (model, check) = try inception.loadWritingOne(output: output, from: images, run: common)
        let progress = Progress(label: "features", quiet: common.quiet)
        var pool3: [Float] = [], logits: [Float] = [], files: [String] = []
        let runner = InceptionRunner(model, protocol: inputProtocol.resolved)
        try runner.run(images.paths, batchSize: batch.batchSize, policy: failures.policy, threads: common.threadCount,
                       logits: true, warn: Console.warn, progress: progress.sink) { positions, f in
            pool3 += f.pool3.toArray()
            logits += f.logits?.toArray() ?? []
            files += positions.map { images.paths[$0] }
        }
        guard !files.isEmpty else { throw PipelineError("no image could be read") }
        try FeatureFiles.writeFeatures(pool3: pool3, logits: logits, files: files, protocol: runner.inputProtocol, to: output)
        check.report()
        if !common.quiet {
            Console.info(String(format: "features of %d image(s) written to %@ in %.2f s", files.count, output, progress.elapsed))
        }
    }
}

struct FIDStats: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fid-stats",
        abstract: "FID statistics of a set of images: mu [2048] and sigma [2048, 2048] (float64, ddof 1), pytorch-fid's .npz.")

    @OptionGroup var inception: InceptionOptions
    @OptionGroup var inputProtocol: ProtocolOption
    @OptionGroup var batch: BatchOptions
    @OptionGroup var common: RunOptions
    @OptionGroup var failures: FailureOptions

    @Argument(help: "Image files or directories (a directory: its image files, sorted by name).")
    var images: [String]

    @Option(help: "Output .npz: mu, sigma (loadable by pytorch-fid and by `vqrt fid`), files (the inputs it holds) and protocol.")
    var output: String

    func run() throws {
        let images = try ImageList(self.images)
        guard images.paths.count >= 2 else { throw PipelineError("a covariance needs at least 2 images, got \(images.paths.count)") }
        let (model, check) = try inception.loadWritingOne(output: output, from: images, run: common)
        let (stats, files) = try statistics(images.paths, runner: InceptionRunner(model, protocol: inputProtocol.resolved),
                                            batch: batch.batchSize, policy: failures.policy, run: common, label: "fid-stats")
        try FeatureFiles.writeStatistics(stats, files: files, protocol: inputProtocol.resolved, to: output)
        check.report()
        if files.count < InceptionV3.featureDimension {
            Console.warning("\(files.count) images < 2048 features: the covariance is singular (FID against it is biased and may be ill-conditioned)")
        }
        if !common.quiet { Console.info("statistics of \(files.count) image(s) written to \(output)") }
    }
}

/// Streams images through Inception into FID statistics; also returns the files they hold.
func statistics(_ paths: [String], runner: InceptionRunner, batch: Int, policy: FailurePolicy, run common: RunOptions,
                label: String, quietProgress: Bool = false) throws -> (GaussianStatistics, [String]) {
    var acc = try FeatureStatistics(dimension: InceptionV3.featureDimension)
    var files: [String] = []
    let progress = Progress(label: label, quiet: common.quiet || quietProgress)
    try runner.run(paths, batchSize: batch, policy: policy, threads: common.threadCount, logits: false, warn: Console.warn,
                   progress: progress.sink) { positions, f in
        try acc.add(f.pool3)
        files += positions.map { paths[$0] }
    }
    guard files.count >= 2 else { throw PipelineError("a covariance needs at least 2 images, \(files.count) could be read") }
    return (try acc.statistics(), files)
}

struct FID: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fréchet Inception Distance between two image sets or statistics files (pytorch-fid's, or torch-fidelity's protocol).")

    @OptionGroup var inception: InceptionOptions
    @OptionGroup var inputProtocol: ProtocolOption
    @OptionGroup var batch: BatchOptions
    @OptionGroup var common: RunOptions

    @Argument(help: "First set: a directory of images, or a pytorch-fid .npz statistics file.")
    var a: String

    @Argument(help: "Second set: a directory of images, or a pytorch-fid .npz statistics file.")
    var b: String

    @Flag(help: "Print exactly one JSON object: {\"fid\", \"n_a\", \"n_b\", \"protocol\"}.")
    var json = false

    @Flag(help: .hidden)
    var timing = false

    /// A set: a statistics file, or the images of a directory (at least 2), checked before any compute.
    enum InputSet { case statistics(String), images(ImageList) }

    func set(_ path: String) throws -> InputSet {
        switch FileSystem.kind(path) {
        case nil: throw PipelineError(file: path, "no such file or directory")
        case .directory?:
            let images = try ImageList([path])
            guard images.paths.count >= 2 else { throw PipelineError(file: path, "a covariance needs at least 2 images, found \(images.paths.count)") }
            return .images(images)
        default:
            guard path.hasSuffix(".npz") else { throw PipelineError(file: path, "expected a directory of images or a pytorch-fid .npz statistics file") }
            try FileSystem.requireReadableFile(path)
            return .statistics(path)
        }
    }

    func run() throws {
        let sets = [try set(a), try set(b)]
        let recorded = try sets.compactMap { set -> (file: String, protocol: InceptionProtocol?)? in
            if case .statistics(let p) = set { return (p, try FeatureFiles.recordedProtocol(p)) }
            return nil
        }
        let chosen = try inputProtocol.resolve(recorded: recorded)
        if sets.contains(where: { if case .images = $0 { return true }; return false }) { try inception.requireFile() }
        common.apply()
        var runner: InceptionRunner?, check: WeightsCheck?
        let readStarted = Clock.seconds()
        var stats: [GaussianStatistics] = []
        if case .statistics(let pa) = sets[0], case .statistics(let pb) = sets[1] {
            // Two statistics files: read at once (each is mostly the inflate of a 32 MB covariance).
            let (ra, rb) = GaussianStatistics.read(paths: pa, pb)
            stats = [try naming(pa) { try ra.get() }, try naming(pb) { try rb.get() }]
        } else {
            for (set, label) in zip(sets, ["fid A", "fid B"]) {
                switch set {
                case .statistics(let p): stats.append(try naming(p) { try GaussianStatistics.read(path: p) })
                case .images(let images):
                    if runner == nil {
                        let (model, c) = try inception.source.load(warn: Console.warn)
                        runner = InceptionRunner(model, protocol: chosen)
                        check = c
                    }
                    stats.append(try statistics(images.paths, runner: runner!, batch: batch.batchSize, policy: .stop, run: common,
                                                label: label, quietProgress: json).0)
                }
            }
        }
        guard stats[0].dimension == stats[1].dimension else {
            throw PipelineError("statistics of dimension \(stats[0].dimension) (\(a)) and \(stats[1].dimension) (\(b)) cannot be compared")
        }
        let started = Clock.seconds()
        if timing { Console.info(String(format: "timing: statistics %.3f s", started - readStarted)) }
        let fid = try FrechetDistance.compute(stats[0], stats[1])
        check?.report()
        if timing { Console.info(String(format: "timing: distance %.3f s (%@ route)", Clock.seconds() - started, fid.route.rawValue)) }
        if fid.offsetApplied {
            Console.warning("FID calculation produced a singular product; added 1e-6 to the diagonals of the covariances (as pytorch-fid does)")
        }
        if fid.imaginaryComponentSuspected {
            Console.warning(String(format: "S1·S2 has %d negative eigenvalue(s) down to %.3g (clamped to 0); pytorch-fid may stop with 'Imaginary component' on these statistics",
                                   fid.negativeEigenvalues, fid.mostNegativeEigenvalue))
        }
        if json {
            let n = { (s: GaussianStatistics) -> JSONValue in s.count.map { .int(Int64($0)) } ?? .null }
            print(JSONValue.object([("fid", .double(fid.value)), ("n_a", n(stats[0])), ("n_b", n(stats[1])),
                                    ("protocol", .string(chosen.rawValue))]).render())
        } else {
            print("FID: \(fid.value)")
        }
    }
}

struct IS: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "is",
        abstract: "Inception Score of images in the order given (pytorch-image-generation-metrics: 1008-way softmax without the fc bias, contiguous splits, population std).")

    @OptionGroup var inception: InceptionOptions
    @OptionGroup var batch: BatchOptions
    @OptionGroup var common: RunOptions
    @OptionGroup var failures: FailureOptions

    @Argument(help: "Image files or directories (a directory: its image files, sorted by name). The order decides the splits.")
    var images: [String]

    @Option(help: "Number of splits (at least 1, at most the number of images).")
    var splits = 10

    @Flag(help: "Print exactly one JSON object: {\"is_mean\", \"is_std\", \"splits\", \"n\"} (and \"skipped\": the files left out, with --skip-unreadable).")
    var json = false

    func validate() throws {
        guard splits >= 1 else { throw ValidationError("--splits must be at least 1, got \(splits)") }
    }

    func run() throws {
        let images = try ImageList(self.images)
        guard images.paths.count >= splits else {
            throw PipelineError("an Inception Score with \(splits) splits needs at least \(splits) images, got \(images.paths.count)")
        }
        try inception.requireFile()
        common.apply()
        let (model, check) = try inception.source.load(warn: Console.warn)
        // Logits stream into the splits; with --skip-unreadable the number of images (and so the split boundaries)
        // is known only at the end, so they are kept until then. The splits follow the images read: no gaps.
        var streaming = failures.skipUnreadable ? nil
            : try InceptionScoreAccumulator(splits: splits, classes: InceptionV3.classCount, expectedCount: images.paths.count)
        var kept: [Float] = [], files: [String] = []
        let progress = Progress(label: "is", quiet: common.quiet || json)
        try InceptionRunner(model).run(images.paths, batchSize: batch.batchSize, policy: failures.policy, threads: common.threadCount,
                                       logits: true, warn: Console.warn, progress: progress.sink) { positions, f in
            guard let logits = f.logits else { return }
            if streaming != nil { try streaming!.add(logits: logits) } else { kept += logits.toArray() }
            files += positions.map { images.paths[$0] }
        }
        var acc = try streaming ?? InceptionScoreAccumulator(splits: splits, classes: InceptionV3.classCount, expectedCount: files.count)
        if streaming == nil { try acc.add(logits: kept) }
        let r = try acc.result()
        check.report()
        let skipped = images.paths.filter { !Set(files).contains($0) }
        if json {
            var items: [(String, JSONValue)] = [("is_mean", .double(r.mean)), ("is_std", .double(r.std)),
                                                ("splits", .int(Int64(r.splits))), ("n", .int(Int64(r.count)))]
            if failures.skipUnreadable { items.append(("skipped", .array(skipped.map { .string($0) }))) }
            print(JSONValue.object(items).render())
        } else {
            print("IS: \(r.mean) ± \(r.std) (\(r.count) images, \(r.splits) splits)")
        }
    }
}
