// numpy's legacy `np.random.RandomState(seed)`, only as far as torch-fidelity's KID uses it: the MT19937 generator
// seeded by an integer, and `choice(n, size, replace=False)`, which the legacy API implements as
// `permutation(n)[:size]`, i.e. a Fisher-Yates shuffle of `arange(n)` from the last element down, each swap partner
// drawn by `random_interval` (rejection sampling under the smallest all-ones mask >= the bound).
// Bit-exact with numpy (numpy/random/mtrand.pyx `choice`, `permutation`, `shuffle` -> `_shuffle_raw`;
// numpy/random/src/mt19937 `mt19937_seed`, `mt19937_gen`; numpy/random/src/distributions `random_interval`),
// so KID draws the very subsets torch-fidelity draws.

public struct NumpyRandomState: Sendable {
    private var key = [UInt32](repeating: 0, count: 624)
    private var position = 624

    /// `np.random.RandomState(seed)` for an integer seed in [0, 2^32): Knuth's initialisation (`init_genrand`).
    public init(seed: UInt32) {
        var s = seed
        for i in 0..<624 {
            key[i] = s
            s = 1_812_433_253 &* (s ^ (s >> 30)) &+ UInt32(i + 1)
        }
        position = 624
    }

    /// The next 32-bit output (`mt19937_next32`, MT19937 with the standard tempering).
    public mutating func nextUInt32() -> UInt32 {
        if position == 624 { regenerate() }
        var y = key[position]
        position += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9d2c_5680
        y ^= (y << 15) & 0xefc6_0000
        y ^= y >> 18
        return y
    }

    /// `mt19937_next64`: two 32-bit outputs, the first in the high half.
    public mutating func nextUInt64() -> UInt64 {
        let high = UInt64(nextUInt32())
        return high << 32 | UInt64(nextUInt32())
    }

    private mutating func regenerate() {
        let upper: UInt32 = 0x8000_0000, lower: UInt32 = 0x7fff_ffff, matrix: UInt32 = 0x9908_b0df
        for i in 0..<624 {
            let y = (key[i] & upper) | (key[(i + 1) % 624] & lower)
            key[i] = key[(i + 397) % 624] ^ (y >> 1) ^ ((y & 1) == 0 ? 0 : matrix)
        }
        position = 0
    }

    /// `random_interval(bitgen, max)`: uniform on [0, max].
    public mutating func interval(_ max: UInt64) -> UInt64 {
        if max == 0 { return 0 }
        var mask = max
        mask |= mask >> 1; mask |= mask >> 2; mask |= mask >> 4
        mask |= mask >> 8; mask |= mask >> 16; mask |= mask >> 32
        if max <= 0xffff_ffff {
            while true {
                let v = UInt64(nextUInt32()) & mask
                if v <= max { return v }
            }
        }
        while true {
            let v = nextUInt64() & mask
            if v <= max { return v }
        }
    }

    /// `permutation(n)`: `arange(n)` shuffled in place by `shuffle` (i from n-1 down to 1, swap with `interval(i)`).
    public mutating func permutation(_ n: Int) -> [Int] {
        var a = Array(0..<Swift.max(n, 0))
        var i = a.count - 1
        while i >= 1 {
            let j = Int(interval(UInt64(i)))
            a.swapAt(i, j)
            i -= 1
        }
        return a
    }

    /// `choice(n, size, replace=False)` without probabilities: the first `size` entries of `permutation(n)`.
    public mutating func choiceWithoutReplacement(_ n: Int, size: Int) throws -> [Int] {
        guard n > 0 else { throw MetricsError.invalidArgument("cannot choose from an empty population") }
        guard size >= 0, size <= n else {
            throw MetricsError.invalidArgument("cannot take a sample of \(size) from a population of \(n) without replacement")
        }
        return Array(permutation(n).prefix(size))
    }
}
