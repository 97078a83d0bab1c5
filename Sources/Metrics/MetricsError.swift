// Errors from the metrics: what was wrong, in one line, naming the file where there is one.

public enum MetricsError: Error, CustomStringConvertible, Equatable {
    /// Arrays of the wrong size or shape for the accumulator they are given to.
    case shapeMismatch(String)
    /// A parameter outside its domain (no splits, a negative code index...).
    case invalidArgument(String)
    /// Too few samples for the statistic (a covariance needs 2, an IS split needs 1 image each).
    case notEnoughSamples(String)
    /// Statistics that are NaN or infinite.
    case notFinite(String)
    /// A LAPACK routine failed.
    case lapack(String)
    /// Two partial states that cannot be merged (different settings, overlapping image ranges).
    case incompatible(String)
    /// A statistics or partial-state file that does not hold what it should.
    case badFile(file: String, message: String)

    public var description: String {
        switch self {
        case .shapeMismatch(let m): return "shape mismatch: \(m)"
        case .invalidArgument(let m): return "invalid argument: \(m)"
        case .notEnoughSamples(let m): return "not enough samples: \(m)"
        case .notFinite(let m): return "not finite: \(m)"
        case .lapack(let m): return "LAPACK: \(m)"
        case .incompatible(let m): return "cannot merge: \(m)"
        case .badFile(let file, let m): return "\(file): \(m)"
        }
    }
}
