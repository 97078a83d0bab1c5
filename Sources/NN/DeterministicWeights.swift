// Contract C4, "vqrt-rng v1": reproducible pseudo-random weights, bit-identical to tools/vqrt_rng.py, so model
// tests can use full-size architectures without committing their weights.

/// Weights generated from (seed, key, shape) by vqrt-rng v1.
public final class DeterministicWeightSource: WeightSource {
    public let seed: UInt64
    private let shapes: [String: [Int]]
    public let names: [String]

    /// `tensors`: every key with its shape, in state-dict order.
    public init(seed: UInt64, tensors: [(name: String, shape: [Int])]) {
        self.seed = seed
        var s: [String: [Int]] = [:]
        var order: [String] = []
        for t in tensors where s[t.name] == nil {
            s[t.name] = t.shape
            order.append(t.name)
        }
        shapes = s
        names = order
    }

    public func tensor(named name: String) throws -> (shape: [Int], values: [Float])? {
        guard let shape = shapes[name] else { return nil }
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw WeightError.unreadable(key: name, reason: "negative dimension in \(shape)")
        }
        return (shape, DeterministicWeightSource.values(name: name, shape: shape, seed: seed))
    }

    /// FNV-1a, 64-bit, over the UTF-8 bytes of `s`.
    public static func fnv1a64(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01b3
        }
        return h
    }

    /// The SplitMix64 outputs for a tensor, in order (exposed for bit-level checks).
    public static func rawStream(name: String, seed: UInt64, count: Int) -> [UInt64] {
        var state = seed ^ fnv1a64(name)
        var out = [UInt64]()
        out.reserveCapacity(count)
        for _ in 0..<count { out.append(next(&state)) }
        return out
    }

    @inline(__always)
    private static func next(_ state: inout UInt64) -> UInt64 {
        state = state &+ 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The float32 values of tensor `name` with `shape` (C order). Integer buffers such as
    /// `num_batches_tracked` are zeros.
    public static func values(name: String, shape: [Int], seed: UInt64) -> [Float] {
        let count = shape.reduce(1, *)
        let last = name.split(separator: ".", omittingEmptySubsequences: false).last.map(String.init) ?? name
        if last == "num_batches_tracked" { return [Float](repeating: 0, count: count) }
        // All arithmetic in float32, in the order the contract writes it.
        let transform: (Float) -> Float
        if shape.count >= 2 {
            let fanIn = shape.dropFirst().reduce(1, *)
            let scale = Float((3.0 / Double(Swift.max(fanIn, 1))).squareRoot())
            transform = { $0 * scale }
        } else {
            switch last {
            case "weight", "gamma": transform = { Float(1) + Float(0.1) * $0 }
            case "bias", "beta": transform = { Float(0.05) * $0 }
            case "running_mean": transform = { Float(0.1) * $0 }
            case "running_var": transform = { Float(1) + Float(0.5) * $0 }
            default: transform = { Float(0.1) * $0 }
            }
        }
        var state = seed ^ fnv1a64(name)
        var out = [Float](repeating: 0, count: count)
        for i in 0..<count {
            let u = Float(next(&state) >> 40) / 16777216.0
            let r = 2 * u - 1
            out[i] = transform(r)
        }
        return out
    }
}
