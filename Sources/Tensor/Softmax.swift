// Softmax over the last dimension, as torch.softmax(x, dim=-1): exp(x − max) / Σ exp(x − max).

extension Tensor {
    /// Softmax over the last dimension of a plain tensor.
    public func softmax() throws -> Tensor {
        guard let d = shape.last, d > 0 else { throw TensorError.shapeMismatch("softmax on \(shape)") }
        let x = plain()
        let out = Tensor(uninitialized: shape)
        Profiler.measure("softmax") { softmaxRows(x.pointer, out.pointer, rows: count / d, length: d) }
        return out
    }
}

/// Row-wise softmax from `src` into `dst` (may be the same buffer).
func softmaxRows(_ src: UnsafeMutablePointer<Float>, _ dst: UnsafeMutablePointer<Float>, rows: Int, length d: Int) {
    parallelFor(rows, grain: Swift.max(1, 16384 / d)) { range in
        for r in range { softmaxRow(src + r * d, into: dst + r * d, length: d) }
    }
}

/// The softmax of one row of `d` values, on the calling thread (`o` may be `row`).
@inline(__always)
func softmaxRow(_ row: UnsafeMutablePointer<Float>, into o: UnsafeMutablePointer<Float>, length d: Int) {
    var mv = Vec16(repeating: -.infinity)
    var i = 0
    while i + 16 <= d { mv = vmax(mv, loadVec(row + i)); i += 16 }
    var m = mv.max()
    while i < d { m = Swift.max(m, row[i]); i += 1 }
    let mvec = Vec16(repeating: m)
    // Partial sums in 16 lanes, then a double total: as accurate as PyTorch's vectorised float sum or better.
    var acc = Vec16()
    var total = 0.0
    i = 0
    var run = 0
    while i + 16 <= d {
        let e = vexp(loadVec(row + i) - mvec)
        storeVec(e, o + i)
        acc += e
        i += 16
        run += 1
        if run == 64 { total += SIMD16<Double>(acc).sum(); acc = Vec16(); run = 0 }
    }
    total += SIMD16<Double>(acc).sum()
    while i < d { let e = sexp(row[i] - m); o[i] = e; total += Double(e); i += 1 }
    let inv = Float(1 / total)
    let iv = Vec16(repeating: inv)
    i = 0
    while i + 16 <= d { storeVec(loadVec(o + i) * iv, o + i); i += 16 }
    while i < d { o[i] *= inv; i += 1 }
}
