// Prefix-scoped weight access in the spirit of candle's VarBuilder: a model is built by handing each layer the
// scope of its state-dict prefix, and the loader remembers every key used so that missing and unexpected keys
// can be reported when the whole model is built. Like candle's VarBuilder carries dtype and device, a scope also
// carries the execution settings (convolution algorithm, precision) every layer built from it computes with.
import Foundation
import Tensor

/// Tracks which keys of a `WeightSource` a model used.
public final class WeightLoader: @unchecked Sendable {
    /// What to do when a layer asks for a key the source lacks.
    public enum MissingPolicy: Sendable {
        /// Throw `WeightError.missing` at once.
        case fail
        /// Record the key, hand the layer zeros, and report every missing key from `finish()`.
        case collect
    }

    public let source: WeightSource
    public let missingPolicy: MissingPolicy
    /// The settings layers built from this loader's scopes compute with (unless a scope overrides them).
    public let execution: ExecutionConfig
    private let lock = NSLock()
    private var usedKeys: Set<String> = []
    private var missingKeys: [String] = []
    private lazy var available: Set<String> = Set(source.names)

    public init(_ source: WeightSource, missing: MissingPolicy = .fail, execution: ExecutionConfig = .default) {
        self.source = source
        self.missingPolicy = missing
        self.execution = execution
    }

    /// The unscoped root (keys used verbatim).
    public var root: Weights { Weights(loader: self, prefix: "", execution: execution) }

    /// Keys read so far.
    public var used: Set<String> { lock.lock(); defer { lock.unlock() }; return usedKeys }

    func contains(_ key: String) -> Bool { lock.lock(); defer { lock.unlock() }; return available.contains(key) }

    func load(_ key: String, shape expected: [Int]) throws -> [Float] {
        let found: (shape: [Int], values: [Float])?
        do {
            if let shaped = source as? ShapedWeightSource {
                found = try shaped.tensor(named: key, shape: expected)
            } else {
                found = try source.tensor(named: key)
            }
        } catch let e as WeightError {
            throw e
        } catch {
            throw WeightError.unreadable(key: key, reason: "\(error)")
        }
        guard let t = found else {
            if missingPolicy == .fail { throw WeightError.missing(key: key, expected: expected) }
            lock.lock(); missingKeys.append(key); lock.unlock()
            return [Float](repeating: 0, count: expected.reduce(1, *))
        }
        guard t.shape == expected else {
            throw WeightError.shapeMismatch(key: key, expected: expected, actual: t.shape)
        }
        guard t.values.count == expected.reduce(1, *) else {
            throw WeightError.valueCount(key: key, shape: t.shape, count: t.values.count)
        }
        lock.lock(); usedKeys.insert(key); lock.unlock()
        return t.values
    }

    /// Missing keys (asked for, absent) and unexpected keys (present, never used), the latter in source order,
    /// leaving out keys under any of `ignoring` (prefixes such as "loss.").
    public func report(ignoring prefixes: [String] = []) -> WeightReport {
        lock.lock(); defer { lock.unlock() }
        let unexpected = source.names.filter { name in
            !usedKeys.contains(name) && !prefixes.contains(where: { name.hasPrefix($0) })
        }
        return WeightReport(missing: missingKeys, unexpected: unexpected)
    }

    /// The report, throwing `WeightError.missingKeys` if any key was missing.
    @discardableResult
    public func finish(ignoring prefixes: [String] = []) throws -> WeightReport {
        let r = report(ignoring: prefixes)
        if !r.missing.isEmpty { throw WeightError.missingKeys(r.missing) }
        return r
    }
}

/// The outcome of building a model from a weight source (like PyTorch's `load_state_dict(strict=False)` result).
public struct WeightReport: Equatable, Sendable, CustomStringConvertible {
    public var missing: [String]
    public var unexpected: [String]
    public var isExact: Bool { missing.isEmpty && unexpected.isEmpty }
    public var description: String { "missing keys: \(missing), unexpected keys: \(unexpected)" }
}

/// A view of a `WeightLoader` under a key prefix: `weights.scope("encoder").scope("down").scope(0)` reads keys
/// starting with "encoder.down.0.".
public struct Weights: Sendable {
    public let loader: WeightLoader
    /// The prefix without its trailing dot ("" at the root).
    public let prefix: String
    /// The settings the layers built from this scope compute with; sub-scopes inherit them.
    public let execution: ExecutionConfig

    init(loader: WeightLoader, prefix: String, execution: ExecutionConfig) {
        self.loader = loader
        self.prefix = prefix
        self.execution = execution
    }

    /// A sub-scope; `name` may itself contain dots ("mid.block_1").
    public func scope(_ name: String) -> Weights { Weights(loader: loader, prefix: key(name), execution: execution) }

    /// This scope with other execution settings (e.g. a metric network that must run PyTorch's own arithmetic
    /// whatever the model it measures runs with).
    public func with(execution: ExecutionConfig) -> Weights { Weights(loader: loader, prefix: prefix, execution: execution) }

    /// A sub-scope for a list index (nn.ModuleList / nn.Sequential children).
    public func scope(_ index: Int) -> Weights { scope(String(index)) }

    /// The full key of `name` in this scope.
    public func key(_ name: String) -> String { prefix.isEmpty ? name : "\(prefix).\(name)" }

    /// Whether the source has `name` in this scope (does not mark it used).
    public func contains(_ name: String) -> Bool { loader.contains(key(name)) }

    /// The values of `name`, which must have exactly `shape`.
    public func tensor(_ name: String, shape: [Int]) throws -> [Float] { try loader.load(key(name), shape: shape) }

    /// The values of `name` if the source has it, else nil.
    public func optionalTensor(_ name: String, shape: [Int]) throws -> [Float]? {
        contains(name) ? try tensor(name, shape: shape) : nil
    }
}
