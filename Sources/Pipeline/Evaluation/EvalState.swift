// The partial state of an evaluation (one shard): every accumulator plus what the run has seen. Written atomically
// (an .npz written beside, then renamed) every few batches, so a run killed at any moment resumes from its last
// save with nothing lost and nothing counted twice; shards merge into exactly one report.

import Foundation
import Metrics
import NPY
import TorchFormats

/// What a run is: everything that decides its results. Two states can be resumed or merged only when these agree.
public struct EvalIdentity: Codable, Equatable, Sendable {
    public var checkpoint: String
    public var checkpointSHA256: String
    public var config: String?
    public var configSHA256: String?
    public var family: String
    public var preset: String
    public var convAlgorithm: String
    public var precision: String
    /// The model's hyper-parameters (rendered JSON object).
    public var hyperparameters: String
    public var codebookSize: Int
    public var inception: String
    public var inceptionSHA256: String
    /// SHA-256 of the ordered input list: a resumed or merged run must cover exactly the same images.
    public var filesSHA256: String
    public var total: Int

    /// What differs between `stored` (a state already on disk) and this run, in words ("X there, Y here").
    public func differences(from stored: EvalIdentity) -> [String] {
        var out: [String] = []
        func name(_ p: String) -> String { (p as NSString).lastPathComponent }
        func differ(_ what: String, _ there: String, _ here: String) { out.append("\(what) \(there) there, \(here) here") }
        if checkpointSHA256 != stored.checkpointSHA256 {
            if checkpoint == stored.checkpoint { out.append("the checkpoint \(name(checkpoint)) has changed since") }
            else { differ("checkpoint", name(stored.checkpoint), name(checkpoint)) }
        }
        if configSHA256 != stored.configSHA256 { differ("config", stored.config.map(name) ?? "none", config.map(name) ?? "none") }
        if family != stored.family { differ("family", stored.family, family) }
        if preset != stored.preset { differ("preset", stored.preset, preset) }
        if convAlgorithm != stored.convAlgorithm { differ("--conv-algorithm", stored.convAlgorithm, convAlgorithm) }
        if precision != stored.precision { differ("--precision", stored.precision, precision) }
        if inceptionSHA256 != stored.inceptionSHA256 { differ("Inception weights", name(stored.inception), name(inception)) }
        if filesSHA256 != stored.filesSHA256 || total != stored.total {
            out.append("a list of \(stored.total) images there, another of \(total) here")
        }
        return out
    }
}

public struct EvalMeta: Codable, Equatable, Sendable {
    public static let formatName = "vqrt-eval-partial-2"
    public var format = EvalMeta.formatName
    public var vqrtVersion: String
    public var identity: EvalIdentity
    public var shardIndex: Int
    public var shardCount: Int
    /// This shard's images: `[start, end)` of the whole list.
    public var start: Int
    public var end: Int
    public var processed = 0
    /// Compute time of the batches (model, Inception and the per-image statistics), over every process of the run.
    public var seconds = 0.0
    /// The parts of `seconds` spent in the VQ model and in Inception (originals and reconstructions); nil in partial
    /// files written before they were recorded.
    public var modelSeconds: Double?
    public var inceptionSeconds: Double?
    public var quantisationErrorSum = 0.0
    public var quantisationErrorCount = 0

    public init(vqrtVersion: String, identity: EvalIdentity, shardIndex: Int, shardCount: Int) {
        self.vqrtVersion = vqrtVersion
        self.identity = identity
        self.shardIndex = shardIndex
        self.shardCount = shardCount
        start = identity.total * shardIndex / shardCount
        end = identity.total * (shardIndex + 1) / shardCount
    }
}

public struct EvalState {
    public var meta: EvalMeta
    public var originals: FeatureStatistics
    public var reconstructions: FeatureStatistics
    public var inceptionScore: InceptionScoreAccumulator
    public var psnr: PSNRStatistics
    public var mse: SquaredErrorStatistics
    public var usage: CodebookUsage
    /// PSNR of each processed image, in input order (for the picture of best and worst cases).
    public var perImagePSNR: [Double]
    /// This shard's images, in order (the picture re-reads a few of them).
    public var files: [String]

    public init(meta: EvalMeta, files: [String]) throws {
        self.meta = meta
        self.files = files
        originals = try FeatureStatistics(dimension: 2048)
        reconstructions = try FeatureStatistics(dimension: 2048)
        inceptionScore = try InceptionScoreAccumulator(splits: 10, expectedCount: max(meta.identity.total, 10), startIndex: meta.start)
        psnr = PSNRStatistics()
        mse = SquaredErrorStatistics()
        usage = try CodebookUsage(codebookSize: meta.identity.codebookSize, windowImages: 256, startIndex: meta.start)
        perImagePSNR = []
    }

    /// Saves the state. Uncompressed: a save is on the run's critical path and its two 32 MB covariances compress
    /// by a quarter at most, for seconds of zlib.
    public func write(to path: String) throws {
        let json = String(decoding: try JSONEncoder().encode(meta), as: UTF8.self)
        var items: [(String, NPYArray)] = [("meta", NPYArray(strings: [json]))]
        items += try originals.archived(prefix: "originals.")
        items += try reconstructions.archived(prefix: "reconstructions.")
        items += try inceptionScore.archived(prefix: "is.")
        items += try psnr.archived(prefix: "psnr.")
        items += try mse.archived(prefix: "mse.")
        items += try usage.archived(prefix: "usage.")
        items.append(("per_image_psnr", try NPYArray(doubles: perImagePSNR, shape: [perImagePSNR.count])))
        items.append(("files", NPYArray(strings: files)))
        try naming(path) { try NPZ.write(items, to: path, compressed: false) }
    }

    /// Only the meta record of a partial file (cheap: the accumulators are not read).
    public static func meta(at path: String) throws -> EvalMeta {
        let file = (path as NSString).lastPathComponent
        let a = try naming(path) { try NPZ.read(path: path, only: ["meta"]) }
        guard let json = try? a.array("meta", file: file).strings().first,
              let meta = try? JSONDecoder().decode(EvalMeta.self, from: Data(json.utf8)), meta.format == EvalMeta.formatName else {
            throw PipelineError(file: path, "not a partial file of this vqrt version (\(EvalMeta.formatName))")
        }
        return meta
    }

    public init(path: String) throws {
        let file = (path as NSString).lastPathComponent
        meta = try EvalState.meta(at: path)
        let a = try naming(path) { try NPZ.read(path: path) }
        do {
            originals = try FeatureStatistics(archive: a, prefix: "originals.", file: file)
            reconstructions = try FeatureStatistics(archive: a, prefix: "reconstructions.", file: file)
            inceptionScore = try InceptionScoreAccumulator(archive: a, prefix: "is.", file: file)
            psnr = try PSNRStatistics(archive: a, prefix: "psnr.", file: file)
            mse = try SquaredErrorStatistics(archive: a, prefix: "mse.", file: file)
            usage = try CodebookUsage(archive: a, prefix: "usage.", file: file)
            perImagePSNR = try a.array("per_image_psnr", file: file).doubles()
            files = try a.array("files", file: file).strings()
        } catch {
            throw PipelineError(file: path, error.text(about: path))
        }
        guard perImagePSNR.count == meta.processed, files.count == meta.end - meta.start, meta.processed <= files.count else {
            throw PipelineError(file: path, "inconsistent partial state (\(meta.processed) images processed, \(perImagePSNR.count) PSNRs, \(files.count) files)")
        }
    }

    /// Folds the next shard into this one (shards must be adjacent and of the same run).
    public mutating func merge(_ other: EvalState) throws {
        let differences = meta.identity.differences(from: other.meta.identity)
        guard differences.isEmpty else {
            throw PipelineError("partial files come from different runs: \(differences.joined(separator: "; "))")
        }
        guard other.meta.start == meta.start + meta.processed else {
            throw PipelineError("a shard is missing or repeated: images \(meta.start)..<\(meta.start + meta.processed) then \(other.meta.start)..<\(other.meta.end)")
        }
        try originals.merge(other.originals)
        try reconstructions.merge(other.reconstructions)
        try inceptionScore.merge(other.inceptionScore)
        try psnr.merge(other.psnr)
        try mse.merge(other.mse)
        try usage.merge(other.usage)
        perImagePSNR += other.perImagePSNR
        files += other.files
        meta.processed += other.meta.processed
        meta.end = other.meta.end
        meta.seconds += other.meta.seconds
        meta.modelSeconds = meta.modelSeconds.flatMap { a in other.meta.modelSeconds.map { a + $0 } }
        meta.inceptionSeconds = meta.inceptionSeconds.flatMap { a in other.meta.inceptionSeconds.map { a + $0 } }
        meta.quantisationErrorSum += other.meta.quantisationErrorSum
        meta.quantisationErrorCount += other.meta.quantisationErrorCount
        meta.shardIndex = 0
    }
}

extension EvalIdentity {
    /// The identity of evaluating `images` with `vq` and the Inception weights at `inception` (files are hashed:
    /// a checkpoint replaced at the same path is another run).
    public init(vq: LoadedVQ, inception: String, images: ImageList) throws {
        let source = vq.source
        func absolute(_ p: String) -> String { FileSystem.canonical(p) }
        self.init(checkpoint: absolute(source.checkpoint),
                  checkpointSHA256: try naming(source.checkpoint) { try Hashing.sha256(file: source.checkpoint) },
                  config: source.config.map(absolute),
                  configSHA256: try source.config.map { c in try naming(c) { try Hashing.sha256(file: c) } },
                  family: vq.model.family.rawValue, preset: vq.preset.label,
                  convAlgorithm: source.execution.effectiveConvolutionAlgorithm.rawValue,
                  precision: source.execution.precision.rawValue,
                  hyperparameters: JSONValue.object(vq.loaded.configuration.hyperparameters).render(),
                  codebookSize: vq.model.codebookSize, inception: absolute(inception),
                  inceptionSHA256: try naming(inception) { try Hashing.sha256(file: inception) },
                  filesSHA256: Hashing.sha256(images.paths.joined(separator: "\n")), total: images.paths.count)
    }
}
