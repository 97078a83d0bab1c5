// Sources that can produce a tensor for any requested key once they know its shape: the deterministic generator
// of contract C4 builds a full-size model this way without a key list (tests of models too big to commit).

public protocol ShapedWeightSource: WeightSource {
    /// The tensor for `name`, given the shape the layer expects; nil if the source has nothing for that key.
    func tensor(named: String, shape: [Int]) throws -> (shape: [Int], values: [Float])?
}

/// vqrt-rng v1 values for whatever a model asks for, with optional exact overrides (e.g. a codebook).
public final class GeneratedWeightSource: ShapedWeightSource {
    public let seed: UInt64
    public private(set) var names: [String] = []
    private var overrides: [String: (shape: [Int], values: [Float])]

    public init(seed: UInt64, overrides: [String: (shape: [Int], values: [Float])] = [:]) {
        self.seed = seed
        self.overrides = overrides
    }

    public func tensor(named name: String, shape: [Int]) throws -> (shape: [Int], values: [Float])? {
        if !names.contains(name) { names.append(name) }
        if let o = overrides[name] { return o }
        return (shape, DeterministicWeightSource.values(name: name, shape: shape, seed: seed))
    }

    public func tensor(named name: String) throws -> (shape: [Int], values: [Float])? { overrides[name] }
}

/// Zeros of whatever shape a layer asks for, recording each (name, shape) in the order asked: building a module tree
/// on it lists that tree's state dict, so key lists are derived from the model code instead of written twice.
public final class LayoutRecorder: ShapedWeightSource {
    public private(set) var layout: [(name: String, shape: [Int])] = []
    public var names: [String] { layout.map(\.name) }

    public init() {}

    public func tensor(named name: String, shape: [Int]) throws -> (shape: [Int], values: [Float])? {
        if !layout.contains(where: { $0.name == name }) { layout.append((name, shape)) }
        return (shape, [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    public func tensor(named name: String) throws -> (shape: [Int], values: [Float])? { nil }
}
