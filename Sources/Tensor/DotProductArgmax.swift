// argmax over k of z·e_k (+ b_k) for every row z: IBQ's codebook lookup (the largest dot product with a codebook
// row) and the noise-free Gumbel code (the largest logit of a 1×1 projection). Codebooks of 16384-262144 rows of
// 256 values are too large to scan row by row (each row would stream the whole table from memory), and the full
// [rows, K] score matrix is what makes PyTorch's IBQ need gigabytes: here blocks of rows are scored against chunks
// of codes with a float32 matmul (the table read in place through a transposed view, never copied), and each
// chunk's scores are folded into a running best per row.

public final class DotProductArgmax: @unchecked Sendable {
    /// The table `[K, D]`, plain; row k is e_k.
    public let table: Tensor
    public let bias: [Float]?
    public var count: Int { table.shape[0] }
    public var dimension: Int { table.shape[1] }
    /// Codes per matmul and rows per block: the score block is at most 1024 x 4096 floats (16 MB).
    let codesPerChunk = 4096, rowsPerBlock = 1024

    public init(table: Tensor, bias: [Float]? = nil) throws {
        guard table.rank == 2, table.shape[0] > 0, table.shape[1] > 0 else {
            throw TensorError.shapeMismatch("argmax table must be [K, D], got \(table.shape)")
        }
        guard bias == nil || bias!.count == table.shape[0] else {
            throw TensorError.shapeMismatch("argmax bias has \(bias!.count) values for \(table.shape[0]) rows")
        }
        self.table = table.plain()
        self.bias = bias
    }

    /// For each row of `z` (`[..., D]`), the first index of the largest score `z·e_k (+ b_k)` and that score; a
    /// NaN score wins at its first index (torch.argmax). Scores are float32 matmul results (oneDNN's summation
    /// order, not PyTorch's: near-ties may resolve differently). `images`: how many images the rows hold (equal
    /// shares, in order); row blocks never straddle two images and start at the same rows of each, so an image's
    /// scores, rounding included, do not depend on the batch it came in.
    public func callAsFunction(_ z: Tensor, images: Int = 1) throws -> (indices: [Int], scores: [Float]) {
        let d = dimension, k = count
        guard z.shape.last == d else { throw TensorError.shapeMismatch("argmax over a [\(k), \(d)] table expects [..., \(d)], got \(z.shape)") }
        let zp = z.plain()
        let rows = zp.count / d
        guard images > 0, rows % images == 0 else {
            throw TensorError.shapeMismatch("argmax: \(rows) rows are not \(images) equal images")
        }
        let perImage = rows / images
        var best = [Float](repeating: -.infinity, count: rows)
        var index = [Int](repeating: -1, count: rows)
        let scores = Tensor(uninitialized: [Swift.max(1, Swift.min(perImage, rowsPerBlock) * Swift.min(k, codesPerChunk))])
        let blockStarts = (0..<images).flatMap { image in
            stride(from: 0, to: perImage, by: rowsPerBlock).map { (image * perImage + $0, Swift.min(rowsPerBlock, perImage - $0)) }
        }
        try Profiler.measure("codebook argmax", flops: 2 * Double(rows) * Double(k) * Double(d)) {
            for (r0, m) in blockStarts {
                for k0 in stride(from: 0, to: k, by: codesPerChunk) {
                    let n = Swift.min(codesPerChunk, k - k0)
                    // scores[m, n] = z[r0..<r0+m, :] · table[k0..<k0+n, :]ᵀ
                    try stridedMatmul(.dense(zp.pointer + r0 * d, [m, d]),
                                      MatrixView(pointer: table.pointer + k0 * d, dims: [d, n], strides: [1, d]),
                                      into: .dense(scores.pointer, [m, n]), alpha: 1, profiled: false)
                    fold(scores.pointer, rows: m, codes: n, firstCode: k0, into: &best, &index, at: r0)
                }
            }
        }
        // Rows whose every score is -inf: torch.argmax gives the first index.
        for i in 0..<rows where index[i] < 0 { index[i] = 0 }
        return (index, best)
    }

    /// Folds a [rows, codes] score block (codes k0..<k0+codes) into the running best of rows r0..<r0+rows.
    private func fold(_ s: UnsafeMutablePointer<Float>, rows m: Int, codes n: Int, firstCode k0: Int,
                      into best: inout [Float], _ index: inout [Int], at r0: Int) {
        let b = bias
        best.withUnsafeMutableBufferPointer { bb in
            index.withUnsafeMutableBufferPointer { ib in
                let bestP = bb.baseAddress!, idxP = ib.baseAddress!
                parallelFor(m, grain: 16) { range in
                    for i in range {
                        let row = s + i * n
                        if let b { for j in 0..<n { row[j] = row[j] + b[k0 + j] } }
                        var winner = idxP[r0 + i], value = bestP[r0 + i]
                        if value.isNaN { continue }           // an earlier NaN already won
                        // 16 lanes keep their largest score (strict > keeps the first index within a lane).
                        var laneBest = Vec16(repeating: -.infinity)
                        var laneIdx = SIMD16<Int32>(repeating: -1)
                        var ids = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
                        var probe = Vec16()
                        var j = 0
                        while j + 16 <= n {
                            let v = loadVec(row + j)
                            probe += v * 0
                            let better = v .> laneBest
                            laneBest.replace(with: v, where: better)
                            laneIdx.replace(with: ids, where: better)
                            ids &+= 16
                            j += 16
                        }
                        if probe != probe {
                            // A NaN (or an infinity, whose product with 0 is NaN) in the block: scalar pass.
                            for t in 0..<n where row[t].isNaN || row[t] > value {
                                value = row[t]; winner = k0 + t
                                if value.isNaN { break }
                            }
                        } else {
                            var localValue = -Float.infinity, localIdx = -1
                            for l in 0..<16 where laneIdx[l] >= 0 {
                                let v = laneBest[l], t = Int(laneIdx[l])
                                if v > localValue || (v == localValue && t < localIdx) { localValue = v; localIdx = t }
                            }
                            for t in j..<n where row[t].isNaN || row[t] > localValue {
                                localValue = row[t]; localIdx = t
                                if localValue.isNaN { break }
                            }
                            // Codes of this chunk come after every code seen before: they win only if larger.
                            if localIdx >= 0 && (localValue.isNaN || localValue > value || winner < 0) {
                                value = localValue; winner = k0 + localIdx
                            }
                        }
                        bestP[r0 + i] = value
                        idxP[r0 + i] = winner
                    }
                }
            }
        }
    }
}
