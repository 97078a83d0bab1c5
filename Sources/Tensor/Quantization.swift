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
        let d = dimension, k = size, kb = (k + 15) / 16
        let src = zp.pointer, bl = blocks.pointer, nm = norms.pointer
        indices.withUnsafeMutableBufferPointer { ib in
            scores.withUnsafeMutableBufferPointer { sb in
                let idx = ib.baseAddress!, sc = sb.baseAddress!
                parallelFor(n, grain: 8) { range in
                    let lane = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
                    for i in range {
                        let row = src + i * d
                        var zz: Float = 0
                        for j in 0..<d { zz += row[j] * row[j] }
                        let zzv = Vec16(repeating: zz)
                        // Per lane: best score and its code index. Scores are arranged so that smaller wins.
                        var best = Vec16(repeating: .infinity)
                        var bestIdx = SIMD16<Int32>(repeating: Int32.max)
                        var bestNaN = SIMD16<Int32>(repeating: Int32.max)
                        for b in 0..<kb {
                            var acc = Vec16()
                            let blk = bl + b * d * 16
                            for j in 0..<d { acc += Vec16(repeating: row[j]) * loadVec(blk + j * 16) }
                            var s: Vec16
                            switch metric {
                            case .squaredEuclidean:
                                s = (zzv + loadVec(nm + b * 16)) - 2 * acc
                            case .euclidean:
                                let dist = (zzv + loadVec(nm + b * 16)) - 2 * acc
                                s = pointwiseMax(dist, Vec16()).squareRoot()
                                s.replace(with: dist, where: dist .!= dist)
                            case .dot:
                                s = -acc
                            }
                            let ids = lane &+ Int32(b * 16)
                            let valid = ids .< Int32(k)
                            let better = (s .< best) .& valid
                            best.replace(with: s, where: better)
                            bestIdx.replace(with: ids, where: better)
                            let nan = (s .!= s) .& valid
                            bestNaN.replace(with: pointwiseMin(bestNaN, ids), where: nan)
                        }
                        var winner = Int32.max
                        var score = Float.infinity
                        let firstNaN = bestNaN.min()
                        if firstNaN != Int32.max {
                            winner = firstNaN
                            score = .nan
                        } else {
                            for l in 0..<16 where bestIdx[l] != Int32.max {
                                if best[l] < score || (best[l] == score && bestIdx[l] < winner) {
                                    score = best[l]; winner = bestIdx[l]
                                }
                            }
                            if winner == Int32.max { winner = 0 }   // all +inf: torch returns the first index
                        }
                        idx[i] = Int(winner)
                        sc[i] = metric == .dot ? -score : score
                    }
                }
            }
        }
        return (indices, scores)
    }
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
