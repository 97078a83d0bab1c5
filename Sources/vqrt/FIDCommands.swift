// `vqrt fid-stats`, `vqrt fid`, `vqrt is` (cli.md): pytorch-fid's FID and its statistics files, and
// pytorch-image-generation-metrics' Inception Score, over images in the order given.

import ArgumentParser
import Foundation
import Metrics
import Models
import TorchFormats

/// Streams a list of images through Inception into FID statistics.
func featureStatistics(_ paths: [String], runner: InceptionRunner, label: String, quiet: Bool) throws -> GaussianStatistics {
    var acc = try FeatureStatistics(dimension: InceptionV3.featureDimension)
    let progress = Progress(total: paths.count, label: label, quiet: quiet)
    try runner.run(paths, logits: false, progress: progress) { _, pool3, _ in try acc.add(pool3) }
    return try acc.statistics()
}

struct FIDStats: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fid-stats",
        abstract: "FID statistics of a set of images: mu [2048] and sigma [2048, 2048] (float64, ddof 1), pytorch-fid's .npz.")

    @OptionGroup var inception: InceptionOptions
    @OptionGroup var options: InceptionRunOptions

    @Argument(help: "Image files or directories (a directory: its image files, sorted by name).")
    var images: [String]

    @Option(help: "Output .npz (loadable by pytorch-fid and by `vqrt fid`).")
    var output: String

    func run() throws {
        try reportingErrors(file: nil) {
            try options.apply()
            let paths = try ImageInputs.expand(images)
            guard paths.count >= 2 else { throw CLIError("a covariance needs at least 2 images, got \(paths.count)") }
            let (model, check) = try inception.loadChecked(quiet: options.quiet)
            let stats = try featureStatistics(paths, runner: options.runner(model), label: "fid-stats", quiet: options.quiet)
            try reportingFile(output) { try stats.write(path: output) }
            check.report()
            if !options.quiet {
                if paths.count < InceptionV3.featureDimension {
                    Console.warning("\(paths.count) images < 2048 features: the covariance is singular (FID against it is biased and may be ill-conditioned)")
                }
                Console.info("statistics of \(paths.count) image(s) written to \(output)")
            }
        }
    }
}

struct FID: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fréchet Inception Distance between two image sets or statistics files (pytorch-fid).")

    @OptionGroup var inception: InceptionOptions
    @OptionGroup var options: InceptionRunOptions

    @Argument(help: "First set: a directory of images, or a pytorch-fid .npz statistics file.")
    var a: String

    @Argument(help: "Second set: a directory of images, or a pytorch-fid .npz statistics file.")
    var b: String

    @Flag(help: "Print exactly one JSON object: {\"fid\", \"n_a\", \"n_b\"}.")
    var json = false

    func run() throws {
        try reportingErrors(file: nil) {
            try options.apply()
            var runner: InceptionRunner?
            var check: WeightsCheck?
            func stats(_ path: String, _ label: String) throws -> GaussianStatistics {
                if path.hasSuffix(".npz") {
                    return try reportingFile(path) { try GaussianStatistics.read(path: path) }
                }
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                    throw CLIError("\(path): no such file or directory")
                }
                guard isDirectory.boolValue else {
                    throw CLIError("\(path): expected a directory of images or a pytorch-fid .npz statistics file")
                }
                let paths = try ImageInputs.expand([path])
                guard paths.count >= 2 else { throw CLIError("\(path): a covariance needs at least 2 images, got \(paths.count)") }
                if runner == nil {
                    let (model, c) = try inception.loadChecked(quiet: options.quiet || json)
                    runner = options.runner(model)
                    check = c
                }
                return try featureStatistics(paths, runner: runner!, label: label, quiet: options.quiet || json)
            }
            let readStarted = Clock.seconds()
            let sa: GaussianStatistics, sb: GaussianStatistics
            if a.hasSuffix(".npz") && b.hasSuffix(".npz") {
                // Two statistics files: read at once (each is mostly a serial zlib inflate of 32 MB).
                let (ra, rb) = GaussianStatistics.read(paths: a, b)
                sa = try reportingFile(a) { try ra.get() }
                sb = try reportingFile(b) { try rb.get() }
            } else {
                sa = try stats(a, "fid A")
                sb = try stats(b, "fid B")
            }
            guard sa.dimension == sb.dimension else {
                throw CLIError("statistics of dimension \(sa.dimension) (\(a)) and \(sb.dimension) (\(b)) cannot be compared")
            }
            let started = Clock.seconds()
            if options.timing {
                Console.info(String(format: "timing: statistics %.3f s", started - readStarted))
            }
            let fid = try FrechetDistance.compute(sa, sb)
            check?.report()
            if options.timing {
                Console.info(String(format: "timing: distance %.3f s (%@ route)", Clock.seconds() - started, fid.route.rawValue))
            }
            if fid.offsetApplied {
                Console.warning("FID calculation produced a singular product; added 1e-6 to the diagonals of the covariances (as pytorch-fid does)")
            }
            if fid.imaginaryComponentSuspected {
                Console.warning(String(format: "S1·S2 has %d negative eigenvalue(s) down to %.3g (clamped to 0); pytorch-fid may stop with 'Imaginary component' on these statistics",
                                       fid.negativeEigenvalues, fid.mostNegativeEigenvalue))
            }
            if json {
                let n = { (s: GaussianStatistics) -> JSONValue in s.count.map { .int(Int64($0)) } ?? .null }
                print(JSONValue.object([("fid", .double(fid.value)), ("n_a", n(sa)), ("n_b", n(sb))]).render())
            } else {
                print("FID: \(fid.value)")
            }
        }
    }
}

struct IS: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "is",
        abstract: "Inception Score of images in the order given (pytorch-image-generation-metrics: 1008-way softmax without the fc bias, contiguous splits, population std).")

    @OptionGroup var inception: InceptionOptions
    @OptionGroup var options: InceptionRunOptions

    @Argument(help: "Image files or directories (a directory: its image files, sorted by name). The order decides the splits.")
    var images: [String]

    @Option(help: "Number of splits.")
    var splits = 10

    @Flag(help: "Print exactly one JSON object: {\"is_mean\", \"is_std\", \"splits\", \"n\"}.")
    var json = false

    func run() throws {
        try reportingErrors(file: nil) {
            try options.apply()
            guard splits > 0 else { throw ValidationError("--splits must be positive") }
            let paths = try ImageInputs.expand(images)
            var acc = try InceptionScoreAccumulator(splits: splits, classes: InceptionV3.classCount, expectedCount: paths.count)
            let (model, check) = try inception.loadChecked(quiet: options.quiet || json)
            let runner = options.runner(model)
            let progress = Progress(total: paths.count, label: "is", quiet: options.quiet || json)
            try runner.run(paths, logits: true, progress: progress) { _, _, logits in
                guard let logits else { return }
                try acc.add(logits: logits)
            }
            let r = try acc.result()
            check.report()
            if json {
                print(JSONValue.object([("is_mean", .double(r.mean)), ("is_std", .double(r.std)),
                                        ("splits", .int(Int64(r.splits))), ("n", .int(Int64(r.count)))]).render())
            } else {
                print("IS: \(r.mean) ± \(r.std) (\(r.count) images, \(r.splits) splits)")
            }
        }
    }
}
