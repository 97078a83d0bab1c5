// `vqrt kid A B` (cli.md "Further metrics"): Kernel Inception Distance as torch-fidelity computes it, between two
// image directories or features files (`vqrt features`), under either protocol.

import ArgumentParser
import Foundation
import Metrics
import Models
import Pipeline
import TorchFormats

struct KID: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kid",
        abstract: "Kernel Inception Distance between two image sets or features files, as torch-fidelity computes it (A is its input1, B its input2).")

    @OptionGroup var inception: InceptionOptions
    @OptionGroup var inputProtocol: ProtocolOption
    @OptionGroup var kid: KIDOptions
    @OptionGroup var batch: BatchOptions
    @OptionGroup var common: RunOptions

    @Argument(help: "First set (torch-fidelity's input1, e.g. generated images): a directory of images, or an .npz written by `vqrt features`.")
    var a: String

    @Argument(help: "Second set (input2, e.g. the reference images): a directory of images, or an .npz written by `vqrt features`.")
    var b: String

    @Flag(help: "Print exactly one JSON object: {\"kid_mean\", \"kid_std\", \"n_a\", \"n_b\", \"subsets\", \"subset_size\", \"protocol\"}.")
    var json = false

    /// A set: features read from a file, or the images of a directory (at least 2).
    enum InputSet {
        case features(path: String, rows: [Float], count: Int, dimension: Int, protocol: InceptionProtocol?)
        case images(ImageList)

        var count: Int {
            switch self {
            case .features(_, _, let n, _, _): return n
            case .images(let list): return list.paths.count
            }
        }
    }

    func set(_ path: String) throws -> InputSet {
        switch FileSystem.kind(path) {
        case nil: throw PipelineError(file: path, "no such file or directory")
        case .directory?:
            let images = try ImageList([path])
            guard images.paths.count >= 2 else { throw PipelineError(file: path, "KID needs at least 2 images, found \(images.paths.count)") }
            return .images(images)
        default:
            guard path.hasSuffix(".npz") else { throw PipelineError(file: path, "expected a directory of images or a features .npz (`vqrt features`)") }
            try FileSystem.requireReadableFile(path)
            let f = try FeatureFiles.readPool3(path)
            guard f.count >= 2 else { throw PipelineError(file: path, "KID needs at least 2 feature rows, found \(f.count)") }
            return .features(path: path, rows: f.rows, count: f.count, dimension: f.dimension, protocol: f.protocol)
        }
    }

    func run() throws {
        let sets = [try set(a), try set(b)]
        let recorded = sets.compactMap { s -> (file: String, protocol: InceptionProtocol?)? in
            if case .features(let path, _, _, _, let p) = s { return (path, p) }
            return nil
        }
        let chosen = try inputProtocol.resolve(recorded: recorded)
        let dimensions = sets.map { s -> Int in if case .features(_, _, _, let d, _) = s { return d }; return InceptionV3.featureDimension }
        guard dimensions[0] == dimensions[1] else {
            throw PipelineError("features of dimension \(dimensions[0]) (\(a)) and \(dimensions[1]) (\(b)) cannot be compared")
        }
        try kid.settings.check(countA: sets[0].count, countB: sets[1].count, names: (a, b))
        let metric = try kid.settings.metric()
        let images = sets.compactMap { s -> ImageList? in if case .images(let l) = s { return l }; return nil }
        try Memory.require(Memory.product(images.reduce(0) { $0 + $1.paths.count }, dimensions[0], 4),
                           for: "the pool3 features of \(images.map { $0.paths.count }.map(String.init).joined(separator: " and ")) images",
                           advice: "KID needs every feature in memory")
        if !images.isEmpty { try inception.requireFile() }
        common.apply()
        var runner: InceptionRunner?, check: WeightsCheck?
        var rows: [[Float]] = []
        for (set, label) in zip(sets, ["kid A", "kid B"]) {
            switch set {
            case .features(_, let r, _, _, _): rows.append(r)
            case .images(let list):
                if runner == nil {
                    let (model, c) = try inception.source.load(warn: Console.warn)
                    runner = InceptionRunner(model, protocol: chosen)
                    check = c
                }
                var features: [Float] = []
                features.reserveCapacity(list.paths.count * InceptionV3.featureDimension)
                let progress = Progress(label: label, quiet: common.quiet || json)
                try runner!.run(list.paths, batchSize: batch.batchSize, policy: .stop, threads: common.threadCount, logits: false,
                                warn: Console.warn, progress: progress.sink) { _, f in features += f.pool3.toArray() }
                rows.append(features)
            }
        }
        let r: KernelInceptionDistance.Result
        let workers = try kid.settings.workers(countA: sets[0].count, countB: sets[1].count, dimension: dimensions[0])
        do { r = try metric(rows[0], rows[1], dimension: dimensions[0], workers: workers) } catch { throw PipelineError("KID: \(error)") }
        check?.report()
        if json {
            print(JSONValue.object([("kid_mean", .double(r.mean)), ("kid_std", .double(r.std)), ("n_a", .int(Int64(r.countA))),
                                    ("n_b", .int(Int64(r.countB))), ("subsets", .int(Int64(r.subsets))),
                                    ("subset_size", .int(Int64(r.subsetSize))), ("protocol", .string(chosen.rawValue))]).render())
        } else {
            print("KID: \(r.mean) ± \(r.std) (\(r.subsets) subsets of \(r.subsetSize); \(r.countA) and \(r.countB) \(images.isEmpty ? "feature rows" : "images"), \(chosen.rawValue))")
        }
    }
}
