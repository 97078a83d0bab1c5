// Where layer weights come from: a checkpoint's state dict (the loader's StateDict conforms), an in-memory
// dictionary (tests), or the deterministic generator of contract C4.

/// A read-only collection of named float tensors.
public protocol WeightSource {
    /// The tensor stored under `named` (shape and C-order float32 values), or nil if there is none.
    func tensor(named: String) throws -> (shape: [Int], values: [Float])?
    /// Every key, in the source's order.
    var names: [String] { get }
}

/// Weights held in memory, for tests and for tensors computed at load time.
public final class DictionaryWeightSource: WeightSource {
    private var storage: [String: (shape: [Int], values: [Float])] = [:]
    public private(set) var names: [String] = []

    public init() {}

    /// Entries in the given order; a repeated key keeps its last value.
    public init(_ entries: [(name: String, shape: [Int], values: [Float])]) throws {
        for e in entries { try set(e.name, shape: e.shape, values: e.values) }
    }

    /// Adds or replaces a tensor.
    public func set(_ name: String, shape: [Int], values: [Float]) throws {
        guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == values.count else {
            throw WeightError.valueCount(key: name, shape: shape, count: values.count)
        }
        if storage[name] == nil { names.append(name) }
        storage[name] = (shape, values)
    }

    public func tensor(named name: String) throws -> (shape: [Int], values: [Float])? { storage[name] }
}

/// Errors from loading layer weights; each names the state-dict key involved.
public enum WeightError: Error, CustomStringConvertible, Equatable {
    /// A layer needs `key` and the source lacks it.
    case missing(key: String, expected: [Int])
    /// The source's tensor has another shape than the layer expects.
    case shapeMismatch(key: String, expected: [Int], actual: [Int])
    /// A source returned a value count that does not fill its shape.
    case valueCount(key: String, shape: [Int], count: Int)
    /// The source could not produce the tensor.
    case unreadable(key: String, reason: String)
    /// Several keys were missing (collected while building a whole model).
    case missingKeys([String])
    /// A layer was configured with impossible hyper-parameters.
    case invalidConfiguration(String)

    public var description: String {
        switch self {
        case .missing(let k, let e):
            return "weight '\(k)' (shape \(e)) is missing from the checkpoint"
        case .shapeMismatch(let k, let e, let a):
            return "weight '\(k)' has shape \(a), expected \(e): the checkpoint does not match the model configuration"
        case .valueCount(let k, let s, let c):
            return "weight '\(k)' has \(c) values, which do not fill shape \(s)"
        case .unreadable(let k, let r):
            return "weight '\(k)' cannot be read: \(r)"
        case .missingKeys(let keys):
            let shown = keys.prefix(8).joined(separator: ", ")
            return "\(keys.count) weight(s) missing from the checkpoint: \(shown)\(keys.count > 8 ? ", ..." : "")"
        case .invalidConfiguration(let m):
            return "invalid layer configuration: \(m)"
        }
    }
}
