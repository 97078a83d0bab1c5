// Vector-quantiser kernels: l2 normalisation and nearest-code search.

/// How a codebook search scores a vector `z` against a code `e`.
public enum CodeMetric: Sendable {
    /// argmin of (‖z‖² + ‖e‖²) − 2 z·e in float32, taming's VectorQuantizer2 / ViT-VQGAN expanded form.
    case squaredEuclidean
    /// argmax of −sqrt(max(0, ‖z‖² + ‖e‖² − 2 z·e)), lucidrains' `-cdist` (the sqrt can merge near-equal
    /// distances into ties, which then go to the first index, as there).
    case euclidean
    /// argmax of z·e (cosine similarity when both sides are unit vectors).
    case dot
}

/// A codebook `[K, D]` prepared for nearest-code search (transposed into 16-code blocks, squared norms cached).
public final class CodebookSearch: @unchecked Sendable {
    public let size: Int
    public let dimension: Int
    private let blocks: TensorStorage      // [ceil(K/16)][D][16]
    private let norms: TensorStorage       // ‖e‖² per code, padded to a multiple of 16
    private let penalty: TensorStorage     // 0 for real codes, a huge finite value for the padding lanes

    public init(codes: Tensor) throws {
        guard codes.rank == 2, codes.shape[0] > 0, codes.shape[1] > 0 else {
            throw TensorError.shapeMismatch("codebook must be [K, D], got \(codes.shape)")
        }
        guard codes.shape[0] < Int(Int32.max - 16) else {
            throw TensorError.invalidArgument("codebook of \(codes.shape[0]) codes is too large")
        }
        let c = codes.plain()
        let k = c.shape[0], d = c.shape[1]
        size = k; dimension = d
        let kb = (k + 15) / 16
        blocks = TensorStorage(zeros: kb * d * 16)
        norms = TensorStorage(zeros: kb * 16)
        penalty = TensorStorage(zeros: kb * 16)
        for code in k..<(kb * 16) { penalty.pointer[code] = Float.greatestFiniteMagnitude }
        let src = c.pointer, bl = blocks.pointer, nm = norms.pointer
        for code in 0..<k {
            var s: Float = 0
            for j in 0..<d {
                let v = src[code * d + j]
                bl[((code / 16) * d + j) * 16 + code % 16] = v
                s += v * v      // torch.sum(e ** 2, dim=1): float sum over D
            }
            nm[code] = s
        }
    }

    /// Index of the best code for each row of `z` (`[N, D]` plain, or any shape whose last dimension is D), the
    /// first index winning ties (torch.argmin / argmax); a NaN score wins, as it does in torch.
    /// Also returns each row's best score (the distance, or the dot product for `.dot`).
    public func nearest(_ z: Tensor, metric: CodeMetric) throws -> (indices: [Int], scores: [Float]) {
        guard z.shape.last == dimension else {
            throw TensorError.shapeMismatch("codebook search expects [..., \(dimension)], got \(z.shape)")
        }
        let zp = z.plain()
        let n = zp.count / dimension
        var indices = [Int](repeating: 0, count: n)
        var scores = [Float](repeating: 0, count: n)
        indices.withUnsafeMutableBufferPointer { ib in
            scores.withUnsafeMutableBufferPointer { sb in
                let idx = ib.baseAddress!, sc = sb.baseAddress!
                switch metric {
                case .squaredEuclidean: scan(zp.pointer, rows: n, SquaredEuclideanScore(), idx, sc)
                case .euclidean: scan(zp.pointer, rows: n, EuclideanScore(), idx, sc)
                case .dot: scan(zp.pointer, rows: n, NegatedDotScore(), idx, sc)
                }
                if metric == .dot { for i in 0..<n { sc[i] = -sc[i] } }
            }
        }
        return (indices, scores)
    }

    /// The search loop, specialised per metric. Per row, 16 lanes keep their best (smallest) score and its index;
    /// strict `<` keeps the first index within a lane, and the final reduction prefers the smaller index among
    /// equal scores. Lanes past K score a huge finite penalty. Any NaN or infinite score (caught by a `s · 0`
    /// probe) sends the row to a scalar pass with exactly torch's NaN-first semantics and the same arithmetic.
    private func scan<S: CodeScore>(_ z: UnsafeMutablePointer<Float>, rows n: Int, _ score: S,
                                    _ idx: UnsafeMutablePointer<Int>, _ sc: UnsafeMutablePointer<Float>) {
        let d = dimension, k = size, kb = (k + 15) / 16
        let bl = blocks.pointer, nm = norms.pointer, pen = penalty.pointer
        parallelFor(n, grain: 8) { range in
            // Euclidean: the row's squared distances, for the tie refinement below.
            let rowScores = S.sqrtOfClamped ? UnsafeMutablePointer<Float>.allocate(capacity: kb * 16) : nil
            defer { rowScores?.deallocate() }
            let lane = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
            let step = SIMD16<Int32>(repeating: 16)
            for i in range {
                let row = z + i * d
                var zz: Float = 0
                for j in 0..<d { zz += row[j] * row[j] }
                let zzv = Vec16(repeating: zz)
                var best = Vec16(repeating: .infinity)
                var bestIdx = SIMD16<Int32>(repeating: -1)
                var ids = lane
                var probe = Vec16()
                for b in 0..<kb {
                    var acc = Vec16()
                    let blk = bl + b * d * 16
                    for j in 0..<d { acc += Vec16(repeating: row[j]) * loadVec(blk + j * 16) }
                    let s = score.lanes(zz: zzv, norms: loadVec(nm + b * 16), dot: acc) + loadVec(pen + b * 16)
                    if let rs = rowScores { storeVec(s, rs + b * 16) }
                    probe += s * 0
                    let better = s .< best
                    best.replace(with: s, where: better)
                    bestIdx.replace(with: ids, where: better)
                    ids &+= step
                }
                var winner = -1
                var value = Float.infinity
                for l in 0..<16 where bestIdx[l] >= 0 {
                    if best[l] < value || (best[l] == value && Int(bestIdx[l]) < winner) {
                        value = best[l]; winner = Int(bestIdx[l])
                    }
                }
                if winner < 0 || probe != probe || !value.isFinite {
                    (winner, value) = scalarScan(row, zz: zz, score)
                } else if let rs = rowScores {
                    // torch compares sqrt(max(d, 0)), and distinct d can share a square root: the winner is the
                    // first code whose root equals the smallest root r. Only d < nextUp(r)² can have root r
                    // (sqrt is correctly rounded and monotonic), so a vector compare finds the candidates.
                    let r = Swift.max(value, 0).squareRoot()
                    let bound = Double(r.nextUp) * Double(r.nextUp)
                    let boundV = Vec16(repeating: Float(bound).nextUp)
                    search: for b in 0..<kb where ((loadVec(rs + b * 16) .< boundV) != SIMDMask(repeating: false)) {
                        for l in 0..<16 where b * 16 + l < k {
                            let dk = rs[b * 16 + l]
                            if Double(dk) < bound && Swift.max(dk, 0).squareRoot() == r { winner = b * 16 + l; break search }
                        }
                    }
                    value = r
                }
                idx[i] = winner
                sc[i] = value
            }
        }
    }

    /// One row, code by code, with the vector path's arithmetic; NaN wins at its first index, then the smallest
    /// score at its first index (an all-+inf row gives index 0, as torch does).
    private func scalarScan<S: CodeScore>(_ row: UnsafeMutablePointer<Float>, zz: Float, _ score: S) -> (Int, Float) {
        let d = dimension, bl = blocks.pointer, nm = norms.pointer
        var winner = 0
        var value = Float.infinity
        for code in 0..<size {
            var acc: Float = 0
            let blk = bl + (code / 16) * d * 16 + code % 16
            for j in 0..<d { acc += row[j] * blk[j * 16] }
            let s = score.scalar(zz: zz, norm: nm[code], dot: acc)
            if s.isNaN { return (code, s) }
            if s < value { value = s; winner = code }
        }
        return (winner, value)
    }
}

/// How a metric turns (‖z‖², ‖e‖², z·e) into a score where smaller is better.
protocol CodeScore {
    /// The vector pass ranks by the squared distance and a refinement applies sqrt(max(·, 0)) (lucidrains).
    static var sqrtOfClamped: Bool { get }
    func lanes(zz: Vec16, norms: Vec16, dot: Vec16) -> Vec16
    func scalar(zz: Float, norm: Float, dot: Float) -> Float
}

struct SquaredEuclideanScore: CodeScore {
    static var sqrtOfClamped: Bool { false }
    @inline(__always) func lanes(zz: Vec16, norms: Vec16, dot: Vec16) -> Vec16 { (zz + norms) - 2 * dot }
    @inline(__always) func scalar(zz: Float, norm: Float, dot: Float) -> Float { (zz + norm) - 2 * dot }
}

struct EuclideanScore: CodeScore {
    static var sqrtOfClamped: Bool { true }
    @inline(__always) func lanes(zz: Vec16, norms: Vec16, dot: Vec16) -> Vec16 { (zz + norms) - 2 * dot }
    @inline(__always) func scalar(zz: Float, norm: Float, dot: Float) -> Float {
        let dist = (zz + norm) - 2 * dot
        return dist.isNaN ? dist : Swift.max(dist, 0).squareRoot()
    }
}

struct NegatedDotScore: CodeScore {
    static var sqrtOfClamped: Bool { false }
    @inline(__always) func lanes(zz: Vec16, norms: Vec16, dot: Vec16) -> Vec16 { -dot }
    @inline(__always) func scalar(zz: Float, norm: Float, dot: Float) -> Float { -dot }
}

extension Tensor {
    /// F.normalize(x, dim=-1, eps): x / max(‖x‖₂, eps) over the last dimension.
    public func l2Normalized(eps: Float = 1e-12) throws -> Tensor {
        guard let d = shape.last, d > 0 else { throw TensorError.shapeMismatch("l2 normalisation on \(shape)") }
        let x = plain()
        let out = Tensor(uninitialized: shape)
        let src = x.pointer, dst = out.pointer
        parallelFor(count / d, grain: Swift.max(1, 4096 / d)) { range in
            for r in range {
                let row = src + r * d, o = dst + r * d
                var s = 0.0
                for j in 0..<d { s += Double(row[j]) * Double(row[j]) }
                let denom = Swift.max(Float(s.squareRoot()), eps)
                for j in 0..<d { o[j] = row[j] / denom }
            }
        }
        return out
    }

    /// Rows of a `[K, D]` table picked by `indices` (torch.nn.functional.embedding): `[indices.count, D]`.
    public static func gatherRows(_ table: Tensor, _ indices: [Int]) throws -> Tensor {
        guard table.rank == 2 else { throw TensorError.shapeMismatch("embedding table must be [K, D], got \(table.shape)") }
        let k = table.shape[0], d = table.shape[1]
        if let bad = indices.first(where: { $0 < 0 || $0 >= k }) {
            throw TensorError.invalidArgument("index \(bad) is outside the table of \(k) rows")
        }
        let t = table.plain()
        let out = Tensor(uninitialized: [indices.count, d])
        for (i, code) in indices.enumerated() { (out.pointer + i * d).update(from: t.pointer + code * d, count: d) }
        return out
    }
}
