// The .npz files of `features` and `fid-stats`, each recording which inputs it holds (`files`).

import Foundation
import Metrics
import Models
import NPY

public enum FeatureFiles {
    /// pytorch-fid's statistics file (`mu`, `sigma`: what `np.load` and pytorch-fid read) plus `files`. Stored
    /// uncompressed, as `np.savez` does: deflating a 32 MB covariance takes seconds and saves a quarter of it.
    public static func writeStatistics(_ stats: GaussianStatistics, files: [String], to path: String) throws {
        try naming(path) {
            try NPZ.write([("mu", try NPYArray(doubles: stats.mu, shape: [stats.dimension])),
                           ("sigma", try NPYArray(doubles: stats.sigma, shape: [stats.dimension, stats.dimension])),
                           ("files", NPYArray(strings: files))], to: path, compressed: false)
        }
    }

    /// Inception features: `pool3` float32 [N, 2048], `logits` float32 [N, 1008], `files` (the inputs, in row order).
    public static func writeFeatures(pool3: [Float], logits: [Float], files: [String], to path: String) throws {
        try naming(path) {
            try NPZ.write([("pool3", try NPYArray(floats: pool3, shape: [files.count, InceptionV3.featureDimension])),
                           ("logits", try NPYArray(floats: logits, shape: [files.count, InceptionV3.classCount])),
                           ("files", NPYArray(strings: files))], to: path, compressed: false)
        }
    }
}
