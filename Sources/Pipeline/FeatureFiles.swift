// The .npz files of `features` and `fid-stats`, each recording which inputs it holds (`files`) and the protocol its
// features were computed under (`protocol`: values of two protocols are not comparable).

import Foundation
import Metrics
import Models
import NPY

public enum FeatureFiles {
    /// pytorch-fid's statistics file (`mu`, `sigma`: what `np.load` and pytorch-fid read) plus `files` and
    /// `protocol`. Stored uncompressed, as `np.savez` does: deflating a 32 MB covariance takes seconds and saves a
    /// quarter of it.
    public static func writeStatistics(_ stats: GaussianStatistics, files: [String], protocol p: InceptionProtocol, to path: String) throws {
        try naming(path) {
            try NPZ.write([("mu", try NPYArray(doubles: stats.mu, shape: [stats.dimension])),
                           ("sigma", try NPYArray(doubles: stats.sigma, shape: [stats.dimension, stats.dimension])),
                           ("files", NPYArray(strings: files)), ("protocol", NPYArray(strings: [p.rawValue]))],
                          to: path, compressed: false)
        }
    }

    /// Inception features: `pool3` float32 [N, 2048], `logits` float32 [N, 1008], `files` (the inputs, in row order),
    /// `protocol`.
    public static func writeFeatures(pool3: [Float], logits: [Float], files: [String], protocol p: InceptionProtocol, to path: String) throws {
        try naming(path) {
            try NPZ.write([("pool3", try NPYArray(floats: pool3, shape: [files.count, InceptionV3.featureDimension])),
                           ("logits", try NPYArray(floats: logits, shape: [files.count, InceptionV3.classCount])),
                           ("files", NPYArray(strings: files)), ("protocol", NPYArray(strings: [p.rawValue]))],
                          to: path, compressed: false)
        }
    }

    /// The protocol an .npz written by vqrt records (nil: none recorded, e.g. pytorch-fid's own files).
    public static func recordedProtocol(_ path: String) throws -> InceptionProtocol? {
        let a = try naming(path) { try NPZ.read(path: path, only: ["protocol"]) }
        guard let array = a["protocol"] else { return nil }
        guard let name = try? array.strings().first, let p = InceptionProtocol(rawValue: name) else {
            throw PipelineError(file: path, "records an unknown protocol (\(InceptionProtocol.names) are known)")
        }
        return p
    }

    /// The `pool3` rows of a features file (`vqrt features`): float32 or float64 [N, D] (widened or narrowed to
    /// float32 as a network would hand them over), N >= 2, finite.
    public static func readPool3(_ path: String) throws -> (rows: [Float], count: Int, dimension: Int, protocol: InceptionProtocol?) {
        let a = try naming(path) { try NPZ.read(path: path, only: ["pool3"]) }
        guard let pool3 = a["pool3"] else {
            throw PipelineError(file: path, "holds no 'pool3' array (a features file written by `vqrt features`)")
        }
        guard pool3.shape.count == 2, pool3.shape[1] > 0, pool3.shape[1] <= 1 << 14 else {
            throw PipelineError(file: path, "'pool3' has shape \(pool3.shape), expected [N, D]")
        }
        let rows: [Float]
        switch pool3.dtype {
        case .float32: rows = try naming(path) { try pool3.floats() }
        case .float64: rows = try naming(path) { try pool3.doubles().map { Float($0) } }
        default: throw PipelineError(file: path, "'pool3' is \(pool3.dtype.descr), expected float32")
        }
        guard rows.allSatisfy(\.isFinite) else { throw PipelineError(file: path, "'pool3' holds NaN or infinite values") }
        return (rows, pool3.shape[0], pool3.shape[1], try recordedProtocol(path))
    }
}
