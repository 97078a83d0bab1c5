import CKernels

// Scaled dot-product attention over heads, as ViT blocks write it:
//   q, k, v: 'b n (h d) -> b h n d';  attn = softmax(q·kᵀ · scale, over keys);  out = attn·v;  'b h n d -> b n (h d)'

extension Tensor {
    /// Multi-head attention on plain `[B, N, H·D]` queries and `[B, M, H·D]` keys/values; returns `[B, N, H·D]`.
    /// `scale` multiplies the raw scores (PyTorch: `matmul(q, kᵀ) * scale`).
    /// `precision` and `roundsBFloat16Outputs`: of the two matmuls (the softmax is float32 either way).
    public static func multiHeadAttention(q: Tensor, k: Tensor, v: Tensor, heads: Int, scale: Float,
                                          precision: Precision = .fp32, roundsBFloat16Outputs: Bool = false) throws -> Tensor {
        guard q.rank == 3, k.rank == 3, v.rank == 3, heads > 0, q.shape[2] % heads == 0,
              k.shape == v.shape, k.shape[0] == q.shape[0], k.shape[2] == q.shape[2] else {
            throw TensorError.shapeMismatch("attention over \(heads) heads of q \(q.shape), k \(k.shape), v \(v.shape)")
        }
        let qp = q.plain(), kp = k.plain(), vp = v.plain()
        let hd = q.shape[2]
        return try attention(q: (qp.pointer, hd), k: (kp.pointer, hd), v: (vp.pointer, hd),
                             batch: q.shape[0], queries: q.shape[1], keys: k.shape[1], heads: heads, headDim: hd / heads,
                             scale: scale, precision: precision, rounds: roundsBFloat16Outputs)
    }

    /// Multi-head self-attention on a fused projection `[B, N, 3·H·D]` whose last dimension is q | k | v (as
    /// `to_qkv(x).chunk(3, dim=-1)` splits it); returns `[B, N, H·D]`. Reads q, k and v in place.
    public static func multiHeadAttention(qkv: Tensor, heads: Int, scale: Float,
                                          precision: Precision = .fp32, roundsBFloat16Outputs: Bool = false) throws -> Tensor {
        guard qkv.rank == 3, heads > 0, qkv.shape[2] % (3 * heads) == 0 else {
            throw TensorError.shapeMismatch("attention over \(heads) heads of a fused q|k|v \(qkv.shape)")
        }
        let x = qkv.plain()
        let hd = qkv.shape[2] / 3, row = qkv.shape[2]
        return try attention(q: (x.pointer, row), k: (x.pointer + hd, row), v: (x.pointer + 2 * hd, row),
                             batch: qkv.shape[0], queries: qkv.shape[1], keys: qkv.shape[1], heads: heads,
                             headDim: hd / heads, scale: scale, precision: precision, rounds: roundsBFloat16Outputs)
    }

    /// q, k, v given as base pointers with their row strides; head h uses columns [h·D, (h+1)·D).
    private static func attention(q: (UnsafeMutablePointer<Float>, Int), k: (UnsafeMutablePointer<Float>, Int),
                                  v: (UnsafeMutablePointer<Float>, Int), batch b: Int, queries n: Int, keys m: Int,
                                  heads h: Int, headDim d: Int, scale: Float, precision: Precision,
                                  rounds: Bool) throws -> Tensor {
        let out = Tensor(uninitialized: [b, n, h * d])
        if b == 0 || n == 0 || h * d == 0 { return out }
        if m == 0 { out.pointer.update(repeating: .nan, count: out.count); return out }   // softmax over nothing
        if precision == .fp32 {
            try attentionInQueryBlocks(q: q, k: k, v: v, into: out.pointer, batch: b, queries: n, keys: m, heads: h,
                                       headDim: d, scale: scale)
            return out
        }
        // bf16: image by image: one image's scores (h·n·m floats, 32 MB for ViT-small) stay in the last-level cache
        // between the matmul, the softmax and the second matmul, and its products do not depend on the batch.
        let scores = TensorStorage(uninitialized: h * n * m)
        for image in 0..<b {
            let qi = q.0 + image * n * q.1, ki = k.0 + image * m * k.1, vi = v.0 + image * m * v.1
            let oi = out.pointer + image * n * h * d
            // scores[h, i, j] = Σ_d q[i, h·D + d] k[j, h·D + d]
            try stridedMatmul(MatrixView(pointer: qi, dims: [h, n, d], strides: [d, q.1, 1]),
                              MatrixView(pointer: ki, dims: [h, d, m], strides: [d, 1, k.1]),
                              into: .dense(scores.pointer, [h, n, m]), alpha: scale, precision: precision,
                              roundsBFloat16Outputs: rounds)
            Profiler.measure("softmax") { softmaxRows(scores.pointer, scores.pointer, rows: h * n, length: m) }
            // out[i, h·D + d] = Σ_j scores[h, i, j] v[j, h·D + d]: written straight into 'n (h d)'.
            try stridedMatmul(.dense(scores.pointer, [h, n, m]),
                              MatrixView(pointer: vi, dims: [h, m, d], strides: [d, v.1, 1]),
                              into: MatrixView(pointer: oi, dims: [h, n, d], strides: [d, h * d, 1]),
                              alpha: 1, precision: precision, roundsBFloat16Outputs: rounds)
        }
        return out
    }

    /// Queries per block of the float32 path: a function of the shape only, so that each block's products, and
    /// so its bits, are the same whatever the batch and thread count.
    public static let attentionQueryBlock = 64

    /// float32: every (image, head, block of 64 queries) on one thread: its scores (64 × keys, 256 KB for 1,024
    /// keys) stay in that core's cache from q·kᵀ through the softmax to ·v, and the head's keys and values are
    /// reused by the next block. Products of a whole image's heads (the bf16 path) write h·n·m scores (32 MB for
    /// ViT-small) and read them back twice, through the last-level cache at best. The same oneDNN gemm as there
    /// (float32 accumulation), so the same error against PyTorch; where vqrt's packed gemm is used, its own route
    /// below. Shared by multi-head and (one head) spatial attention.
    static func attentionInQueryBlocks(q: (UnsafeMutablePointer<Float>, Int), k: (UnsafeMutablePointer<Float>, Int),
                                       v: (UnsafeMutablePointer<Float>, Int), into out: UnsafeMutablePointer<Float>,
                                       batch b: Int, queries n: Int, keys m: Int, heads h: Int, headDim d: Int,
                                       scale: Float) throws {
        let blockRows = min(n, attentionQueryBlock), blocks = (n + blockRows - 1) / blockRows
        if PackedMatrix.isUsed {
            try Profiler.measure("attention", flops: 4 * Double(b * h * n * m * d)) {
                attentionWithPackedHeads(q: q, k: k, v: v, into: out, batch: b, queries: n, keys: m, heads: h,
                                         headDim: d, scale: scale, blockRows: blockRows)
            }
            return
        }
        // scores[i, j] = scale · Σ_d q[i, h·D + d] k[j, h·D + d];  out[i, h·D + d] = Σ_j scores[i, j] v[j, h·D + d]
        func products(_ rows: Int) throws -> (BlockedMatmul.SingleThreadProduct, BlockedMatmul.SingleThreadProduct) {
            (try .init(rows: rows, k: d, n: m, aStrides: [q.1, 1], bStrides: [1, k.1], cStrides: [m, 1], alpha: scale,
                       what: "attention scores"),
             try .init(rows: rows, k: m, n: d, aStrides: [m, 1], bStrides: [v.1, 1], cStrides: [h * d, 1],
                       what: "attention output"))
        }
        let full = try products(blockRows)
        let tail = n % blockRows == 0 ? full : try products(n % blockRows)
        let failure = FirstError()
        try Profiler.measure("attention", flops: 4 * Double(b * h * n * m * d)) {
            parallelFor(b * h * blocks) { range in
                let scores = TensorStorage(uninitialized: blockRows * m)
                for task in range {
                    let block = task % blocks, head = (task / blocks) % h, image = task / (blocks * h)
                    let row = block * blockRows, rows = min(blockRows, n - row)
                    let (first, second) = rows == blockRows ? full : tail
                    let column = head * d
                    do {
                        try first.run(UnsafeMutableRawPointer(q.0 + (image * n + row) * q.1 + column),
                                      UnsafeMutableRawPointer(k.0 + image * m * k.1 + column),
                                      into: UnsafeMutableRawPointer(scores.pointer))
                        for r in 0..<rows { softmaxRow(scores.pointer + r * m, into: scores.pointer + r * m, length: m) }
                        try second.run(UnsafeMutableRawPointer(scores.pointer),
                                       UnsafeMutableRawPointer(v.0 + image * m * v.1 + column),
                                       into: UnsafeMutableRawPointer(out + (image * n + row) * h * d + column))
                    } catch {
                        failure.record(error)
                    }
                }
            }
            try failure.rethrow()
        }
    }

    /// The float32 path on vqrt's own gemm (PackedGEMM.swift): each task packs its (image, head)'s keys (as kᵀ)
    /// and values once, then runs blocks of queries over them. Where images × heads are fewer than the threads (one
    /// image through a single-head spatial attention), each head's query blocks are split into groups, one task
    /// each. The kernel's bits do not depend on how rows are blocked or grouped, so they are the same whatever the
    /// batch and thread count.
    static func attentionWithPackedHeads(q: (UnsafeMutablePointer<Float>, Int), k: (UnsafeMutablePointer<Float>, Int),
                                         v: (UnsafeMutablePointer<Float>, Int), into out: UnsafeMutablePointer<Float>,
                                         batch b: Int, queries n: Int, keys m: Int, heads h: Int, headDim d: Int,
                                         scale: Float, blockRows: Int) {
        let packedCount = vqrt_gemm_packed_count(d, m) + vqrt_gemm_packed_count(m, d)
        let workCount = max(vqrt_gemm_work_count(blockRows, m, d, 0), vqrt_gemm_work_count(blockRows, d, m, 0))
        let blocks = (n + blockRows - 1) / blockRows, heads = b * h
        let groups = min(blocks, max(1, (Threading.threads + heads - 1) / heads))
        parallelFor(heads * groups) { range in
            let packed = TensorStorage(uninitialized: packedCount)
            let scores = TensorStorage(uninitialized: blockRows * m)
            let work = TensorStorage(uninitialized: workCount)
            let keysT = packed.pointer, values = packed.pointer + vqrt_gemm_packed_count(d, m)
            var packedHead = -1
            for task in range {
                let group = task % groups, flatHead = task / groups
                let head = flatHead % h, image = flatHead / h, column = head * d
                if flatHead != packedHead {
                    // kᵀ: element (i, j) = k[j, column + i];  v: element (j, i) = v[j, column + i]
                    vqrt_gemm_pack_b(k.0 + image * m * k.1 + column, 1, k.1, d, m, keysT)
                    vqrt_gemm_pack_b(v.0 + image * m * v.1 + column, v.1, 1, m, d, values)
                    packedHead = flatHead
                }
                for block in (group * blocks / groups)..<((group + 1) * blocks / groups) {
                    let row = block * blockRows, rows = min(blockRows, n - row)
                    // scores = scale · (q·kᵀ), softmax over keys, then · v straight into 'n (h d)'.
                    vqrt_gemm_packed(rows, m, d, q.0 + (image * n + row) * q.1 + column, q.1, keysT, scores.pointer, m,
                                     scale, nil, 0, work.pointer)
                    for r in 0..<rows { softmaxRow(scores.pointer + r * m, into: scores.pointer + r * m, length: m) }
                    vqrt_gemm_packed(rows, d, m, scores.pointer, m, values, out + (image * n + row) * h * d + column,
                                     h * d, 1, nil, 0, work.pointer)
                }
            }
            withExtendedLifetime((packed, scores, work)) {}
        }
    }
}
