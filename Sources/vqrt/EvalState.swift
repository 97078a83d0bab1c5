// The partial state of an evaluation (one shard): every accumulator plus what the run has seen. Written atomically
// (npz via a temporary file and a rename) after each few batches, so a run killed at any moment resumes from its
// last save with nothing lost and nothing counted twice; shards merge into exactly one report.

import Foundation
import Metrics
import NPY

struct EvalMeta: Codable, Equatable {
    var format = "vqrt-eval-partial-1"
    var vqrtVersion: String
    var checkpoint: String
    var checkpointBytes: Int
    var config: String?
    var family: String
    var preset: String
    /// ConvolutionKernel.Algorithm of the model's 3x3 convolutions (absent in partial files before it was recorded).
    var convAlgorithm: String?
    /// Precision of the model's kernels (fp32 / bf16; absent in partial files before it was recorded: fp32).
    var precision: String?
    var modelSummary: [[String]]
    var codebookSize: Int
    var inception: String
    var inceptionSHA256: String?
    /// SHA-256 of the ordered input list: a resumed or merged run must cover exactly the same images.
    var filesSHA256: String
    var total: Int
    var shardIndex: Int
    var shardCount: Int
    var start: Int
    var end: Int
    var processed = 0
    var seconds = 0.0
    var quantisationErrorSum = 0.0
    var quantisationErrorCount = 0

    /// Whether `other` is a state of the same run (everything but the progress matches).
    func sameRun(as other: EvalMeta) -> Bool {
        checkpoint == other.checkpoint && checkpointBytes == other.checkpointBytes && config == other.config
            && family == other.family && preset == other.preset && convAlgorithm == other.convAlgorithm
            && (precision ?? "fp32") == (other.precision ?? "fp32")
            && inception == other.inception
            && filesSHA256 == other.filesSHA256 && total == other.total
    }
}

struct EvalState {
    var meta: EvalMeta
    var originals: FeatureStatistics
    var reconstructions: FeatureStatistics
    var inceptionScore: InceptionScoreAccumulator
    var psnr: PSNRStatistics
    var mse: SquaredErrorStatistics
    var usage: CodebookUsage
    /// PSNR of each processed image, in input order (for the picture of best and worst cases).
    var perImagePSNR: [Double]
    /// This shard's images, in order (the picture re-reads a few of them).
    var files: [String]

    init(meta: EvalMeta, files: [String]) throws {
        self.meta = meta
        self.files = files
        originals = try FeatureStatistics(dimension: 2048)
        reconstructions = try FeatureStatistics(dimension: 2048)
        inceptionScore = try InceptionScoreAccumulator(splits: 10, expectedCount: max(meta.total, 10), startIndex: meta.start)
        psnr = PSNRStatistics()
        mse = SquaredErrorStatistics()
        usage = try CodebookUsage(codebookSize: meta.codebookSize, windowImages: 256, startIndex: meta.start)
        perImagePSNR = []
    }

    func write(to path: String) throws {
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
        try NPZ.write(items, to: path)
    }

    init(path: String) throws {
        let file = (path as NSString).lastPathComponent
        let a = try NPZ.read(path: path)
        guard let json = try a.array("meta", file: file).strings().first,
              let meta = try? JSONDecoder().decode(EvalMeta.self, from: Data(json.utf8)), meta.format == "vqrt-eval-partial-1" else {
            throw CLIError("\(file): not a vqrt eval partial file")
        }
        self.meta = meta
        originals = try FeatureStatistics(archive: a, prefix: "originals.", file: file)
        reconstructions = try FeatureStatistics(archive: a, prefix: "reconstructions.", file: file)
        inceptionScore = try InceptionScoreAccumulator(archive: a, prefix: "is.", file: file)
        psnr = try PSNRStatistics(archive: a, prefix: "psnr.", file: file)
        mse = try SquaredErrorStatistics(archive: a, prefix: "mse.", file: file)
        usage = try CodebookUsage(archive: a, prefix: "usage.", file: file)
        perImagePSNR = try a.array("per_image_psnr", file: file).doubles()
        files = try a.array("files", file: file).strings()
        guard perImagePSNR.count == meta.processed, files.count == meta.end - meta.start else {
            throw CLIError("\(file): inconsistent partial state")
        }
    }

    /// Folds a later shard into this one (shards must be adjacent and of the same run).
    mutating func merge(_ other: EvalState) throws {
        guard meta.sameRun(as: other.meta) else { throw CLIError("partial files come from different runs (checkpoint, images or settings differ)") }
        guard other.meta.start == meta.start + meta.processed else {
            throw CLIError("shards do not line up: images \(meta.start)..<\(meta.start + meta.processed) then \(other.meta.start)..<\(other.meta.end)")
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
        meta.quantisationErrorSum += other.meta.quantisationErrorSum
        meta.quantisationErrorCount += other.meta.quantisationErrorCount
        meta.shardIndex = 0
    }
}
