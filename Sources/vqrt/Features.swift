// `vqrt features --inception W IMAGE... --output OUT.npz` (cli.md), and the Inception plumbing shared by
// fid-stats, fid, is (and eval): loading the weights, and running the reference pipeline of pytorch-fid over an
// ordered file list (decode as PIL convert("RGB"), /255, bilinear resize to 299, 2x - 1: Imaging's "inception"
// preset) batch by batch.

import ArgumentParser
import Foundation
import Imaging
import Models
import NPY
import Tensor

struct InceptionOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "FID Inception-v3 weights, \(InceptionWeights.standardFileName) (default: torch hub's cache, where pytorch-fid keeps it).",
        valueName: "weights"))
    var inception: String?

    var path: String { inception ?? InceptionWeights.torchHubPath }

    /// The network. The file's SHA-256 is checked against the standard weights' in the background (hashing 95 MB
    /// takes about as long as loading it); `WeightsCheck.report()` warns, at the end of a run, when it differs:
    /// scores from other weights are not comparable with published ones.
    func loadChecked(quiet: Bool) throws -> (model: InceptionV3, check: WeightsCheck) {
        let file = path
        let model = try reportingFile(file) { try InceptionWeights.load(path: file) }
        return (model, WeightsCheck(path: file, quiet: quiet))
    }

    /// The network, with the weights check done before returning (blocking).
    func load(quiet: Bool) throws -> InceptionV3 {
        let (model, check) = try loadChecked(quiet: quiet)
        check.report()
        return model
    }
}

final class WeightsCheck: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var hash: String?
    let path: String
    let quiet: Bool

    init(path: String, quiet: Bool) {
        self.path = path
        self.quiet = quiet
        if quiet { done.signal(); return }
        DispatchQueue.global(qos: .utility).async {
            self.hash = try? InceptionWeights.sha256(path: path)
            self.done.signal()
        }
    }

    func report() {
        done.wait()
        if let hash, hash != InceptionWeights.standardSHA256, !quiet {
            Console.warning("\((path as NSString).lastPathComponent): SHA-256 \(hash.prefix(16))... is not that of the standard FID weights; scores are not comparable with published ones")
        }
    }
}

/// Runs the FID Inception over image files in the given order.
struct InceptionRunner {
    let model: InceptionV3
    let batchSize: Int
    let threads: Int
    let preset = Preset.inception()
    var timing = false

    /// Calls `body` for each batch with the batch's paths, pool3 [B, 2048] and (if `logits`) logits [B, 1008].
    /// An image that cannot be read stops the run: silently leaving it out would change the scores.
    /// Returns the images per second after the first batch (which includes oneDNN's one-time setup), if measurable.
    @discardableResult
    func run(_ paths: [String], logits: Bool, progress: Progress,
             _ body: (_ paths: ArraySlice<String>, _ pool3: Tensor, _ logits: Tensor?) throws -> Void) throws -> Double? {
        var firstBatchEnd: Double?
        defer {
            if timing, let t = firstBatchEnd, paths.count > batchSize {
                Console.info(String(format: "timing: first batch %.2f s, steady %.2f img/s", t - progress.start,
                                    Double(paths.count - batchSize) / max(Clock.seconds() - t, 1e-9)))
            }
        }
        for start in stride(from: 0, to: paths.count, by: batchSize) {
            let range = start..<min(start + batchSize, paths.count)
            let batch = BatchLoader.load(paths: Array(paths[range]), preset: preset, threads: threads)
            if let f = batch.failures.first {
                // ImagingError's text already starts with the file.
                throw CLIError(f.error is ImagingError ? "\(f.error)" : "\(f.path): \(f.error)")
            }
            let x = try Tensor(shape: [batch.count, 3, batch.height, batch.width], values: batch.tensor)
            let (pool3, l) = try model(x, logits: logits)
            try body(paths[range], pool3, l)
            progress.advance(by: range.count)
            if firstBatchEnd == nil { firstBatchEnd = Clock.seconds() }
        }
        guard let t = firstBatchEnd, paths.count > batchSize else { return nil }
        return Double(paths.count - batchSize) / max(Clock.seconds() - t, 1e-9)
    }
}

struct InceptionRunOptions: ParsableArguments {
    @Option(help: "Images per batch (the scores do not depend on it; 8 was fastest on a 2-core AVX-512 machine).")
    var batchSize = 8

    @Option(help: "Threads (default: all cores).")
    var threads: Int?

    @Flag(help: "No progress output.")
    var quiet = false

    @Flag(help: .hidden)
    var timing = false

    func apply() throws {
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
        if let threads {
            guard threads > 0 else { throw ValidationError("--threads must be positive") }
            Threading.setThreads(threads)
        }
    }

    func runner(_ model: InceptionV3) -> InceptionRunner {
        InceptionRunner(model: model, batchSize: batchSize, threads: threads ?? ProcessInfo.processInfo.activeProcessorCount,
                        timing: timing)
    }
}

struct Features: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inception-v3 (FID variant) features: pool3 [N, 2048] and the unbiased fc logits [N, 1008] used for IS.")

    @OptionGroup var inception: InceptionOptions
    @OptionGroup var options: InceptionRunOptions

    @Argument(help: "Image files or directories (a directory: its image files, sorted by name).")
    var images: [String]

    @Option(help: "Output .npz with pool3 (float32), logits (float32) and files (the inputs in processing order).")
    var output: String

    func run() throws {
        try reportingErrors(file: nil) {
            try options.apply()
            let paths = try ImageInputs.expand(images)
            let (model, check) = try inception.loadChecked(quiet: options.quiet)
            let runner = options.runner(model)
            let progress = Progress(total: paths.count, label: "features", quiet: options.quiet)
            var pool3: [Float] = [], logits: [Float] = []
            pool3.reserveCapacity(paths.count * InceptionV3.featureDimension)
            logits.reserveCapacity(paths.count * InceptionV3.classCount)
            try runner.run(paths, logits: true, progress: progress) { _, p, l in
                pool3 += p.toArray()
                if let l { logits += l.toArray() }
            }
            try reportingFile(output) {
                try NPZ.write([("pool3", try NPYArray(floats: pool3, shape: [paths.count, InceptionV3.featureDimension])),
                               ("logits", try NPYArray(floats: logits, shape: [paths.count, InceptionV3.classCount])),
                               ("files", NPYArray(strings: paths))], to: output)
            }
            check.report()
            if !options.quiet {
                Console.info(String(format: "features of %d image(s) written to %@ in %.2f s (%.2f img/s)", paths.count,
                                    output, progress.elapsed, Double(paths.count) / max(progress.elapsed, 1e-9)))
            }
        }
    }
}
