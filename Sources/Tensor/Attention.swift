// Scaled dot-product attention over heads, as ViT blocks write it:
//   q, k, v: 'b n (h d) -> b h n d';  attn = softmax(q·kᵀ · scale, over keys);  out = attn·v;  'b h n d -> b n (h d)'

extension Tensor {
    /// Multi-head attention on plain `[B, N, H·D]` queries and `[B, M, H·D]` keys/values; returns `[B, N, H·D]`.
    /// `scale` multiplies the raw scores (PyTorch: `matmul(q, kᵀ) * scale`).
    public static func multiHeadAttention(q: Tensor, k: Tensor, v: Tensor, heads: Int, scale: Float) throws -> Tensor {
        guard q.rank == 3, k.rank == 3, v.rank == 3, heads > 0, q.shape[2] % heads == 0,
              k.shape == v.shape, k.shape[0] == q.shape[0], k.shape[2] == q.shape[2] else {
            throw TensorError.shapeMismatch("attention over \(heads) heads of q \(q.shape), k \(k.shape), v \(v.shape)")
        }
        let b = q.shape[0], n = q.shape[1], m = k.shape[1], d = q.shape[2] / heads
        func split(_ t: Tensor, _ len: Int) throws -> Tensor {
            if heads == 1 { return t.plain() }
            return try t.reshaped([b, len, heads, d]).permuted([0, 2, 1, 3]).reshaped([b * heads, len, d])
        }
        let qh = try split(q, n), kh = try split(k, m), vh = try split(v, m)
        let scores = try Tensor.matmul(qh, kh, transposeB: true, alpha: scale).softmax()
        let out = try Tensor.matmul(scores, vh)
        if heads == 1 { return out }
        return try out.reshaped([b, heads, n, d]).permuted([0, 2, 1, 3]).reshaped([b, n, heads * d])
    }
}
