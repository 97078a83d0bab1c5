// The partial state of an evaluation (one shard): every accumulator plus what the run has seen. Written atomically
// (an .npz written beside, then renamed) every few batches, so a run killed at any moment resumes from its last
// save with nothing lost and nothing counted twice; shards merge into exactly one report. KID needs every pool3
// feature: those stream into row files beside the partial file (FeatureRows), one per protocol and side, whose
// valid length is the state's image count.

import Foundation
import Metrics
import NPY
import TorchFormats

/// The model an `eval` run evaluates (absent for `compare`, whose reconstructions come from files).
public struct ModelIdentity: Codable, Equatable, Sendable {
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
}

/// The LPIPS network of a run: its net and both weight files, by content.
public struct LPIPSIdentity: Codable, Equatable, Sendable {
    public var net: String
    public var backbone: String
    public var backboneSHA256: String
    public var linear: String
    public var linearSHA256: String
}

/// The metric settings that decide a run's numbers.
public struct MetricIdentity: Codable, Equatable, Sendable {
    public var inception: String
    public var inceptionSHA256: String
    /// FID/KID protocols, in the order given (pytorch-fid first).
    public var protocols: [InceptionProtocol]
    public var lpips: LPIPSIdentity?
    public var kid: KIDSettings

    /// Hashes the Inception weights (a file replaced at the same path is another run).
    public init(inception: String, protocols: [InceptionProtocol], lpips: LPIPSIdentity?, kid: KIDSettings) throws {
        self.inception = FileSystem.canonical(inception)
        inceptionSHA256 = try naming(inception) { try Hashing.sha256(file: inception) }
        self.protocols = protocols
        self.lpips = lpips
        self.kid = kid
    }
}

/// What a run is: everything that decides its results. Two states can be resumed or merged only when these agree.
public struct EvalIdentity: Codable, Equatable, Sendable {
    /// nil: `compare` (two folders).
    public var model: ModelIdentity?
    public var metrics: MetricIdentity
    /// SHA-256 of the ordered input list: a resumed or merged run must cover exactly the same images.
    public var filesSHA256: String
    /// `compare`: SHA-256 of the ordered list of reconstructions paired with them.
    public var reconstructionsSHA256: String?
    public var total: Int

    /// What differs between `stored` (a state already on disk) and this run, in words ("X there, Y here").
    public func differences(from stored: EvalIdentity) -> [String] {
        var out: [String] = []
        func name(_ p: String) -> String { (p as NSString).lastPathComponent }
        func differ(_ what: String, _ there: String, _ here: String) { out.append("\(what) \(there) there, \(here) here") }
        switch (stored.model, model) {
        case (let s?, let m?):
            if m.checkpointSHA256 != s.checkpointSHA256 {
                if m.checkpoint == s.checkpoint { out.append("the checkpoint \(name(m.checkpoint)) has changed since") }
                else { differ("checkpoint", name(s.checkpoint), name(m.checkpoint)) }
            }
            if m.configSHA256 != s.configSHA256 { differ("config", s.config.map(name) ?? "none", m.config.map(name) ?? "none") }
            if m.family != s.family { differ("family", s.family, m.family) }
            if m.preset != s.preset { differ("preset", s.preset, m.preset) }
            if m.convAlgorithm != s.convAlgorithm { differ("--conv-algorithm", s.convAlgorithm, m.convAlgorithm) }
            if m.precision != s.precision { differ("--precision", s.precision, m.precision) }
        case (nil, nil): break
        case (_?, nil): out.append("a model's evaluation (eval) there, a comparison of two folders (compare) here")
        case (nil, _?): out.append("a comparison of two folders (compare) there, a model's evaluation (eval) here")
        }
        let s = stored.metrics, m = metrics
        if m.inceptionSHA256 != s.inceptionSHA256 { differ("Inception weights", name(s.inception), name(m.inception)) }
        if m.protocols != s.protocols {
            differ("--protocols", s.protocols.map(\.rawValue).joined(separator: ","), m.protocols.map(\.rawValue).joined(separator: ","))
        }
        switch (s.lpips, m.lpips) {
        case (let a?, let b?):
            if a.net != b.net { differ("--net", a.net, b.net) }
            if a.backboneSHA256 != b.backboneSHA256 { differ("LPIPS backbone", name(a.backbone), name(b.backbone)) }
            if a.linearSHA256 != b.linearSHA256 { differ("LPIPS lin weights", name(a.linear), name(b.linear)) }
        case (nil, nil): break
        case (let a, let b): differ("LPIPS", a.map { $0.net } ?? "none (no --backbone)", b.map { $0.net } ?? "none (no --backbone)")
        }
        if m.kid.subsets != s.kid.subsets { differ("--kid-subsets", "\(s.kid.subsets)", "\(m.kid.subsets)") }
        if m.kid.subsetSize != s.kid.subsetSize {
            differ("--kid-subset-size", s.kid.subsetSize.map(String.init) ?? "default", m.kid.subsetSize.map(String.init) ?? "default")
        }
        if filesSHA256 != stored.filesSHA256 || total != stored.total {
            out.append("a list of \(stored.total) images there, another of \(total) here")
        } else if reconstructionsSHA256 != stored.reconstructionsSHA256 {
            out.append("other reconstructions paired with the same \(total) images")
        }
        return out
    }
}

public struct EvalMeta: Codable, Equatable, Sendable {
    public static let formatName = "vqrt-eval-partial-3"
    public var format = EvalMeta.formatName
    public var vqrtVersion: String
    public var identity: EvalIdentity
    public var shardIndex: Int
    public var shardCount: Int
    /// This shard's images: `[start, end)` of the whole list.
    public var start: Int
    public var end: Int
    /// Images folded into the accumulators; also the valid length of every feature-row file.
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

/// Accumulators of the model itself (`eval` only).
public struct ModelAccumulators {
    public var mse: SquaredErrorStatistics
    public var usage: CodebookUsage
}

/// Which images a feature-row file holds.
public enum FeatureSide: String, CaseIterable, Sendable { case originals, reconstructions }

public struct EvalState {
    public var meta: EvalMeta
    /// Per protocol (the identity's order): FID statistics of the originals and of the reconstructions.
    public var originals: [FeatureStatistics]
    public var reconstructions: [FeatureStatistics]
    /// r-IS: pytorch-image-generation-metrics on the reconstructions' pytorch-fid logits.
    public var inceptionScore: InceptionScoreAccumulator
    public var psnr: PSNRStatistics
    /// Per SSIM definition (`SSIMDefinitions.all` order).
    public var ssim: [PairMean]
    /// When the run has an LPIPS network.
    public var lpips: PairMean?
    /// nil for `compare`.
    public var model: ModelAccumulators?
    /// Per-image values of the processed images, in input order (the picture, and checks that shards agree).
    public var perImagePSNR: [Double]
    public var perImageSSIM: [[Double]]
    public var perImageLPIPS: [Double]
    /// This shard's images, in order (the picture re-reads a few of them), and for `compare` their reconstructions.
    public var files: [String]
    public var reconstructionFiles: [String]
    /// Where this state's feature rows are: each shard's partial file and how many rows of it count, in image
    /// order (one entry for a shard, several once shards are merged). Not saved: it follows from the file's place.
    public var featureShards: [(partial: String, rows: Int)] = []

    public var protocols: [InceptionProtocol] { meta.identity.metrics.protocols }

    public init(meta: EvalMeta, files: [String], reconstructionFiles: [String] = []) throws {
        self.meta = meta
        self.files = files
        self.reconstructionFiles = reconstructionFiles
        let id = meta.identity
        originals = try id.metrics.protocols.map { _ in try FeatureStatistics(dimension: 2048) }
        reconstructions = try id.metrics.protocols.map { _ in try FeatureStatistics(dimension: 2048) }
        inceptionScore = try InceptionScoreAccumulator(splits: 10, expectedCount: max(id.total, 10), startIndex: meta.start)
        psnr = PSNRStatistics()
        ssim = SSIMDefinitions.all.map { _ in PairMean() }
        lpips = id.metrics.lpips == nil ? nil : PairMean()
        if let m = id.model {
            model = ModelAccumulators(mse: SquaredErrorStatistics(),
                                      usage: try CodebookUsage(codebookSize: m.codebookSize, windowImages: 256, startIndex: meta.start))
        }
        perImagePSNR = []
        perImageSSIM = SSIMDefinitions.all.map { _ in [] }
        perImageLPIPS = []
    }

    /// The feature-row file of `partial` (a shard's state file) for one protocol and side.
    public static func featureRowsPath(partial: String, protocol p: InceptionProtocol, side: FeatureSide) -> String {
        let base = (partial as NSString).deletingPathExtension
        return "\(base).pool3.\(p.rawValue).\(side.rawValue).npy"
    }

    /// The names of every file a shard's state takes in the report directory.
    public static func stateFileNames(partial name: String, protocols: [InceptionProtocol]) -> [String] {
        [name] + protocols.flatMap { p in FeatureSide.allCases.map { featureRowsPath(partial: name, protocol: p, side: $0) } }
    }

    /// Saves the state. Uncompressed: a save is on the run's critical path and its two 32 MB covariances compress
    /// by a quarter at most, for seconds of zlib.
    public func write(to path: String) throws {
        let json = String(decoding: try JSONEncoder().encode(meta), as: UTF8.self)
        var items: [(String, NPYArray)] = [("meta", NPYArray(strings: [json]))]
        for (i, p) in protocols.enumerated() {
            items += try originals[i].archived(prefix: "fid.\(p.rawValue).originals.")
            items += try reconstructions[i].archived(prefix: "fid.\(p.rawValue).reconstructions.")
        }
        items += try inceptionScore.archived(prefix: "is.")
        items += try psnr.archived(prefix: "psnr.")
        for (i, d) in SSIMDefinitions.all.enumerated() {
            items += try ssim[i].archived(prefix: "ssim.\(d.key).")
            items.append(("per_image_ssim.\(d.key)", try NPYArray(doubles: perImageSSIM[i], shape: [perImageSSIM[i].count])))
        }
        if let lpips {
            items += try lpips.archived(prefix: "lpips.")
            items.append(("per_image_lpips", try NPYArray(doubles: perImageLPIPS, shape: [perImageLPIPS.count])))
        }
        if let model {
            items += try model.mse.archived(prefix: "mse.")
            items += try model.usage.archived(prefix: "usage.")
        }
        items.append(("per_image_psnr", try NPYArray(doubles: perImagePSNR, shape: [perImagePSNR.count])))
        items.append(("files", NPYArray(strings: files)))
        items.append(("reconstruction_files", NPYArray(strings: reconstructionFiles)))
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
        let id = meta.identity
        do {
            originals = try id.metrics.protocols.map { try FeatureStatistics(archive: a, prefix: "fid.\($0.rawValue).originals.", file: file) }
            reconstructions = try id.metrics.protocols.map {
                try FeatureStatistics(archive: a, prefix: "fid.\($0.rawValue).reconstructions.", file: file)
            }
            inceptionScore = try InceptionScoreAccumulator(archive: a, prefix: "is.", file: file)
            psnr = try PSNRStatistics(archive: a, prefix: "psnr.", file: file)
            ssim = try SSIMDefinitions.all.map { try PairMean(archive: a, prefix: "ssim.\($0.key).", file: file) }
            perImageSSIM = try SSIMDefinitions.all.map { try a.array("per_image_ssim.\($0.key)", file: file).doubles() }
            if id.metrics.lpips != nil {
                lpips = try PairMean(archive: a, prefix: "lpips.", file: file)
                perImageLPIPS = try a.array("per_image_lpips", file: file).doubles()
            } else {
                lpips = nil
                perImageLPIPS = []
            }
            if id.model != nil {
                model = ModelAccumulators(mse: try SquaredErrorStatistics(archive: a, prefix: "mse.", file: file),
                                          usage: try CodebookUsage(archive: a, prefix: "usage.", file: file))
            } else {
                model = nil
            }
            perImagePSNR = try a.array("per_image_psnr", file: file).doubles()
            files = try a.array("files", file: file).strings()
            reconstructionFiles = try a.array("reconstruction_files", file: file).strings()
        } catch {
            throw PipelineError(file: path, error.text(about: path))
        }
        let n = meta.processed
        guard perImagePSNR.count == n, perImageSSIM.allSatisfy({ $0.count == n }), lpips == nil || perImageLPIPS.count == n,
              files.count == meta.end - meta.start, n <= files.count,
              id.model != nil ? reconstructionFiles.isEmpty : reconstructionFiles.count == files.count else {
            throw PipelineError(file: path, "inconsistent partial state (\(n) images processed, \(perImagePSNR.count) PSNRs, \(files.count) files)")
        }
        featureShards = [(path, n)]
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
        for i in protocols.indices {
            try originals[i].merge(other.originals[i])
            try reconstructions[i].merge(other.reconstructions[i])
        }
        try inceptionScore.merge(other.inceptionScore)
        try psnr.merge(other.psnr)
        for i in ssim.indices {
            try ssim[i].merge(other.ssim[i])
            perImageSSIM[i] += other.perImageSSIM[i]
        }
        if lpips != nil, let o = other.lpips { try lpips!.merge(o) }
        perImageLPIPS += other.perImageLPIPS
        if model != nil, let o = other.model {
            try model!.mse.merge(o.mse)
            try model!.usage.merge(o.usage)
        }
        perImagePSNR += other.perImagePSNR
        files += other.files
        reconstructionFiles += other.reconstructionFiles
        featureShards += other.featureShards
        meta.processed += other.meta.processed
        meta.end = other.meta.end
        meta.seconds += other.meta.seconds
        meta.modelSeconds = meta.modelSeconds.flatMap { a in other.meta.modelSeconds.map { a + $0 } }
        meta.inceptionSeconds = meta.inceptionSeconds.flatMap { a in other.meta.inceptionSeconds.map { a + $0 } }
        meta.quantisationErrorSum += other.meta.quantisationErrorSum
        meta.quantisationErrorCount += other.meta.quantisationErrorCount
        meta.shardIndex = 0
    }

    /// Every feature-row file this state counts exists and holds at least the rows the state names (checked before
    /// a merge writes anything).
    public func checkFeatureRows() throws {
        for (partial, rows) in featureShards {
            for p in protocols {
                for side in FeatureSide.allCases {
                    try FeatureRows.check(path: EvalState.featureRowsPath(partial: partial, protocol: p, side: side), width: 2048, rows: rows)
                }
            }
        }
    }

    /// Every pool3 row of one protocol and side, concatenated in image order (shard by shard).
    public func featureRows(_ p: InceptionProtocol, _ side: FeatureSide) throws -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(meta.processed * 2048)
        for (partial, rows) in featureShards {
            out += try FeatureRows.read(path: EvalState.featureRowsPath(partial: partial, protocol: p, side: side), width: 2048, rows: rows)
        }
        return out
    }
}

extension EvalIdentity {
    /// The identity of evaluating `images` with `vq` (files are hashed: a checkpoint replaced at the same path is
    /// another run).
    public init(vq: LoadedVQ, metrics: MetricIdentity, images: ImageList) throws {
        let source = vq.source
        func absolute(_ p: String) -> String { FileSystem.canonical(p) }
        let model = ModelIdentity(
            checkpoint: absolute(source.checkpoint),
            checkpointSHA256: try naming(source.checkpoint) { try Hashing.sha256(file: source.checkpoint) },
            config: source.config.map(absolute),
            configSHA256: try source.config.map { c in try naming(c) { try Hashing.sha256(file: c) } },
            family: vq.model.family.rawValue, preset: vq.preset.label,
            convAlgorithm: source.execution.effectiveConvolutionAlgorithm.rawValue,
            precision: source.execution.precision.rawValue,
            hyperparameters: JSONValue.object(vq.loaded.configuration.hyperparameters).render(),
            codebookSize: vq.model.codebookSize)
        self.init(model: model, metrics: metrics, filesSHA256: Hashing.sha256(images.paths.joined(separator: "\n")),
                  reconstructionsSHA256: nil, total: images.paths.count)
    }

    /// The identity of comparing the pairs of two folders.
    public init(pairs: ImagePairs, metrics: MetricIdentity) {
        self.init(model: nil, metrics: metrics, filesSHA256: Hashing.sha256(pairs.a.paths.joined(separator: "\n")),
                  reconstructionsSHA256: Hashing.sha256(pairs.b.paths.joined(separator: "\n")), total: pairs.count)
    }
}
