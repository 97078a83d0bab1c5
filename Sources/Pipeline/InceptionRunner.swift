// The FID Inception-v3 over images under one protocol's input pipeline (pytorch-fid: decode as PIL convert("RGB"),
// /255, bilinear resize to 299, 2x - 1; torch-fidelity: bytes, TF1 resize, (x - 128) / 128): from files, or from 8-bit
// images already in memory (eval's originals and reconstructions, exactly as the tool would read them back from PNG
// files).

import Dispatch
import Foundation
import Imaging
import Models
import Tensor

/// The Inception weights a command uses.
public struct InceptionSource: Sendable {
    public let path: String
    public init(path: String) { self.path = path }

    public func register(in guard_: inout OutputGuard) { guard_.input(path, "the Inception weights") }

    /// The network, and a check of the file's SHA-256 against the standard weights' that runs in the background
    /// (hashing 95 MB takes about as long as loading it).
    public func load(warn: @escaping WarningSink) throws -> (InceptionV3, WeightsCheck) {
        let model = try naming(path) { try InceptionWeights.load(path: path) }
        return (model, WeightsCheck(path: path, warn: warn))
    }
}

/// Whether a weights file is the standard one: scores from other weights are not comparable with published ones.
public final class WeightsCheck: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var hash: String?
    private var reported = false
    public let path: String
    private let warn: WarningSink

    init(path: String, warn: @escaping WarningSink) {
        self.path = path
        self.warn = warn
        DispatchQueue.global(qos: .utility).async {
            self.hash = try? InceptionWeights.sha256(path: path)
            self.done.signal()
        }
    }

    /// The file's SHA-256 (waits for the hash).
    public var sha256: String? { done.wait(); done.signal(); return hash }

    public var isStandard: Bool { sha256 == InceptionWeights.standardSHA256 }

    /// Warns (once) when the weights are not the standard file.
    public func report() {
        guard !reported else { return }
        reported = true
        if let hash = sha256, hash != InceptionWeights.standardSHA256 {
            warn("\(path): SHA-256 \(hash.prefix(16))... is not that of the standard FID weights; scores are not comparable with published ones")
        }
    }
}

/// Inception features of one batch: pool3 `[n, 2048]` and, if asked, the unbiased fc logits `[n, 1008]`.
public struct InceptionFeatures {
    public let pool3: Tensor
    public let logits: Tensor?
}

public struct InceptionRunner {
    public let model: InceptionV3
    public let inputProtocol: InceptionProtocol
    public var preset: Preset { inputProtocol.preset }

    public init(_ model: InceptionV3, protocol inputProtocol: InceptionProtocol = .pytorchFID) {
        self.model = model
        self.inputProtocol = inputProtocol
    }

    /// Features of 8-bit images (each resized to 299 as the protocol's tool does). The inputs are prepared on the
    /// kernels' threads, each image on its own (the values do not depend on the split).
    public func features(_ images: [RGBImage], logits: Bool) throws -> InceptionFeatures {
        let size = InceptionV3.inputSize, plane = 3 * size * size
        let preset = self.preset
        let failure = FirstError()
        let x = try Tensor(shape: [images.count, 3, size, size]) { out in
            let base = out.baseAddress!
            Threading.parallelChunks(images.count) { i in
                do {
                    let values = try preset.tensor(images[i])
                    guard values.count == plane else { throw PipelineError("internal: Inception input of \(values.count) values") }
                    values.withUnsafeBufferPointer { (base + i * plane).update(from: $0.baseAddress!, count: plane) }
                } catch { failure.record(error) }
            }
        }
        if let e = failure.error { throw e }
        return try features(x, logits: logits)
    }

    /// Features of a preprocessed batch (`preset` applied).
    public func features(_ batch: ImageBatch, logits: Bool) throws -> InceptionFeatures {
        try features(try Tensor(shape: [batch.count, 3, batch.height, batch.width], values: batch.tensor), logits: logits)
    }

    private func features(_ x: Tensor, logits: Bool) throws -> InceptionFeatures {
        let (pool3, l) = try model(x, logits: logits)
        return InceptionFeatures(pool3: pool3, logits: l)
    }

    /// Runs over image files in order, calling `body` with each batch's positions (in `paths`) and features.
    /// Images that cannot be read stop the run or are skipped, as `policy` says.
    public func run(_ paths: [String], batchSize: Int, policy: FailurePolicy, threads: Int, logits: Bool,
                    warn: @escaping WarningSink, progress: ProgressSink,
                    _ body: (_ positions: [Int], _ features: InceptionFeatures) throws -> Void) throws {
        let reader = BatchReader(paths: paths, preset: preset, batchSize: batchSize, policy: policy, threads: threads, warn: warn)
        var done = 0
        while let b = try reader.next() {
            if b.count > 0 { try body(b.positions, try features(b.batch, logits: logits)) }
            done += b.inputRange.count
            progress(done, paths.count)
        }
    }
}

/// The first error of work spread over threads.
final class FirstError: @unchecked Sendable {
    private let lock = NSLock()
    private var first: Error?
    func record(_ e: Error) { lock.lock(); if first == nil { first = e }; lock.unlock() }
    var error: Error? { lock.lock(); defer { lock.unlock() }; return first }
}
