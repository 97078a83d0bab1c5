// The statistics FID compares: the mean and covariance (ddof 1) of a set's features, in float64, and their file
// format, pytorch-fid's `.npz` (`np.savez_compressed(path, mu=mu, sigma=sigma)`; read back as `f["mu"][:]`,
// `f["sigma"][:]`). spec/metrics.md §5.1, §7.
import Foundation
import NPY

public struct GaussianStatistics: Equatable, Sendable {
    /// Mean, [dimension].
    public let mu: [Double]
    /// Covariance with ddof 1 (`np.cov(x, rowvar=False)`), [dimension, dimension], row-major (symmetric).
    public let sigma: [Double]
    /// Number of samples behind the statistics, when known (files do not record it).
    public let count: Int?

    public var dimension: Int { mu.count }

    public init(mu: [Double], sigma: [Double], count: Int? = nil) throws {
        guard !mu.isEmpty, sigma.count == mu.count * mu.count else {
            throw MetricsError.shapeMismatch("mu has \(mu.count) values and sigma \(sigma.count); sigma must be \(mu.count)x\(mu.count)")
        }
        self.mu = mu
        self.sigma = sigma
        self.count = count
    }

    /// Whether every value is finite.
    public var isFinite: Bool { mu.allSatisfy(\.isFinite) && sigma.allSatisfy(\.isFinite) }

    /// Reads a pytorch-fid statistics file: an `.npz` with `mu` [D] and `sigma` [D, D], float64 or float32 (some
    /// producers store a float32 `mu`; values are widened exactly). Other members are ignored.
    public static func read(path: String) throws -> GaussianStatistics {
        let archive = try NPZ.read(path: path, only: ["mu", "sigma"])
        let muArray = try archive.array("mu", file: path)
        let sigmaArray = try archive.array("sigma", file: path)
        guard muArray.shape.count == 1, muArray.shape[0] > 0 else {
            throw MetricsError.badFile(file: path, message: "'mu' has shape \(muArray.shape), expected [D]")
        }
        let d = muArray.shape[0]
        // An FID costs ~d³ operations: far beyond Inception's 2048 is not a statistics file anyone meant.
        guard d <= 1 << 14 else {
            throw MetricsError.badFile(file: path, message: "'mu' has \(d) values; at most 16384 dimensions are supported")
        }
        guard sigmaArray.shape == [d, d] else {
            throw MetricsError.badFile(file: path, message: "'sigma' has shape \(sigmaArray.shape), expected [\(d), \(d)]")
        }
        for (name, a) in [("mu", muArray), ("sigma", sigmaArray)] where a.dtype != .float64 && a.dtype != .float32 {
            throw MetricsError.badFile(file: path, message: "'\(name)' is \(a.dtype.descr), expected float64 or float32")
        }
        let stats = try GaussianStatistics(mu: try muArray.doubles(), sigma: try sigmaArray.doubles())
        guard stats.isFinite else {
            throw MetricsError.badFile(file: path, message: "the statistics contain NaN or infinite values")
        }
        return stats
    }

    /// Writes the statistics as pytorch-fid does (`mu` float64 [D], `sigma` float64 [D, D], deflated).
    public func write(path: String) throws {
        try NPZ.write([("mu", try NPYArray(doubles: mu, shape: [dimension])),
                       ("sigma", try NPYArray(doubles: sigma, shape: [dimension, dimension]))], to: path)
    }
}
