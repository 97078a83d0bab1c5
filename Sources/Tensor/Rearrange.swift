// Layout rearrangements the models need: image <-> token sequence (einops 'b c h w -> b (h w) c' and back),
// and general axis permutations of plain tensors.

extension Tensor {
    /// 'b c h w -> b (h w) c': `[B, C, H, W]` (either layout) to plain `[B, H·W, C]`, tokens row-major.
    public func imageToTokens() throws -> Tensor {
        guard rank == 4 else { throw TensorError.shapeMismatch("imageToTokens needs [B, C, H, W], got \(shape)") }
        let b = shape[0], c = shape[1], hw = shape[2] * shape[3]
        if layout == .nhwc { return try Tensor(shape: [b, hw, c], layout: .plain, storage: storage) }
        let out = Tensor(uninitialized: [b, hw, c])
        let src = pointer, dst = out.pointer
        if layout == .nChw16c {
            let cb = (c + 15) / 16
            parallelFor(b * hw, grain: 64) { range in
                for job in range {
                    let n = job / hw, p = job % hw
                    let o = dst + job * c
                    for blk in 0..<cb {
                        let lanes = Swift.min(16, c - blk * 16)
                        (o + blk * 16).update(from: src + ((n * cb + blk) * hw + p) * 16, count: lanes)
                    }
                }
            }
        } else {
            transpose2D(src, dst, batch: b, rows: c, cols: hw)
        }
        return out
    }

    /// 'b (h w) c -> b c h w': plain `[B, H·W, C]` to `[B, C, H, W]` in `layout`.
    public func tokensToImage(height h: Int, width w: Int, layout target: TensorLayout = .plain) throws -> Tensor {
        guard rank == 3, shape[1] == h * w, h > 0, w > 0 else {
            throw TensorError.shapeMismatch("tokensToImage(\(h)×\(w)) needs [B, \(h * w), C], got \(shape)")
        }
        let x = plain()
        let b = shape[0], c = shape[2], hw = h * w
        if target == .nhwc { return try Tensor(shape: [b, c, h, w], layout: .nhwc, storage: x.storage) }
        let out = Tensor(uninitialized: [b, c, h, w], layout: target)
        let src = x.pointer, dst = out.pointer
        if target == .nChw16c {
            let cb = (c + 15) / 16
            parallelFor(b * hw, grain: 64) { range in
                for job in range {
                    let n = job / hw, p = job % hw
                    let s = src + job * c
                    for blk in 0..<cb {
                        let lanes = Swift.min(16, c - blk * 16)
                        (dst + ((n * cb + blk) * hw + p) * 16).update(from: s + blk * 16, count: lanes)
                    }
                }
            }
        } else {
            transpose2D(src, dst, batch: b, rows: hw, cols: c)
        }
        return out
    }

    /// `torch.chunk(x, n, dim=-1)` for a last dimension divisible by n: n plain tensors `[..., D/n]`.
    public func chunkedLastDimension(_ n: Int) throws -> [Tensor] {
        guard let d = shape.last, n > 0, d % n == 0 else {
            throw TensorError.shapeMismatch("cannot split the last dimension of \(shape) into \(n) chunks")
        }
        let x = plain()
        let part = d / n, rows = count / Swift.max(d, 1)
        let outShape = Array(shape.dropLast()) + [part]
        return (0..<n).map { j in
            let out = Tensor(uninitialized: outShape)
            let src = x.pointer, dst = out.pointer
            parallelFor(rows, grain: 256) { range in
                for r in range { (dst + r * part).update(from: src + r * d + j * part, count: part) }
            }
            return out
        }
    }

    /// Axis permutation of a plain tensor (torch.permute(...).contiguous()).
    public func permuted(_ order: [Int]) throws -> Tensor {
        guard order.count == rank, Set(order) == Set(0..<rank) else {
            throw TensorError.invalidArgument("permutation \(order) of a rank-\(rank) tensor")
        }
        let x = plain()
        let outShape = order.map { shape[$0] }
        let out = Tensor(uninitialized: outShape)
        if count == 0 { return out }
        var inStrides = [Int](repeating: 1, count: rank)
        for i in stride(from: rank - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * shape[i + 1] }
        let strides = order.map { inStrides[$0] }
        let src = x.pointer, dst = out.pointer
        let last = outShape.last ?? 1, lastStride = strides.last ?? 1
        let rows = count / Swift.max(last, 1)
        parallelFor(rows, grain: 64) { range in
            for r in range {
                // Source offset of output row r (all axes but the last).
                var rem = r, off = 0
                for ax in stride(from: outShape.count - 2, through: 0, by: -1) {
                    off += (rem % outShape[ax]) * strides[ax]
                    rem /= outShape[ax]
                }
                let o = dst + r * last
                if lastStride == 1 {
                    o.update(from: src + off, count: last)
                } else {
                    for j in 0..<last { o[j] = src[off + j * lastStride] }
                }
            }
        }
        return out
    }
}

/// dst[b][j][i] = src[b][i][j] for `rows`×`cols` matrices, in cache-sized tiles.
func transpose2D(_ src: UnsafeMutablePointer<Float>, _ dst: UnsafeMutablePointer<Float>, batch: Int, rows: Int, cols: Int) {
    let tile = 32
    let rowTiles = (rows + tile - 1) / tile, colTiles = (cols + tile - 1) / tile
    parallelFor(batch * rowTiles * colTiles, grain: 4) { range in
        for job in range {
            let b = job / (rowTiles * colTiles), t = job % (rowTiles * colTiles)
            let r0 = (t / colTiles) * tile, c0 = (t % colTiles) * tile
            let s = src + b * rows * cols, d = dst + b * rows * cols
            for i in r0..<Swift.min(rows, r0 + tile) {
                for j in c0..<Swift.min(cols, c0 + tile) { d[j * rows + i] = s[i * cols + j] }
            }
        }
    }
}
