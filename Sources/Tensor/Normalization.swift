// GroupNorm (optionally fused with SiLU) and LayerNorm.
//
// Statistics are accumulated in float over short runs (32 values, the same order of error as PyTorch's cascaded
// float sums) and combined in double, with each channel's values shifted by its first value so that the sum of
// squares does not cancel. The output is then `x · scale + shift` per channel, with
// scale = γ / sqrt(var + eps) and shift = β − mean · scale, the form PyTorch's CPU kernels use.

/// Per-channel running moments: count, mean and sum of squared deviations (Chan et al. merge).
private struct Moments {
    var n: Double = 0, mean: Double = 0, m2: Double = 0

    /// Moments of values x_i = s + d_i, from Σd and Σd² over n values.
    init(shift s: Double, sum: Double, sumSquares: Double, count: Double) {
        n = count
        if count > 0 {
            mean = s + sum / count
            m2 = Swift.max(0, sumSquares - sum * sum / count)
        }
    }

    init() {}

    mutating func merge(_ o: Moments) {
        if o.n == 0 { return }
        if n == 0 { self = o; return }
        let total = n + o.n
        let delta = o.mean - mean
        mean += delta * o.n / total
        m2 += o.m2 + delta * delta * n * o.n / total
        n = total
    }
}

extension Tensor {
    /// torch.nn.GroupNorm on [N, C, H, W] (plain or nChw16c; nhwc input gives nChw16c output) or [N, C, L],
    /// optionally followed by SiLU.
    /// `gamma`/`beta` have C values each.
    public func groupNorm(groups: Int, gamma: [Float], beta: [Float], eps: Float, silu fuseSiLU: Bool = false) throws -> Tensor {
        try Profiler.measure("groupnorm\(fuseSiLU ? "+silu" : "") \(layout)") {
            try groupNormImpl(groups: groups, gamma: gamma, beta: beta, eps: eps, silu: fuseSiLU, post: nil)
        }
    }

    /// GroupNorm without affine parameters followed by a per-sample, per-channel affine map: `y · scale[n, c] +
    /// shift[n, c]` (`scale`/`shift` hold N·C values, sample-major), rounded after the product and after the sum as
    /// PyTorch's `scale * gn(x) + bias` on separate tensors is (Open-MAGVIT2's AdaptiveGroupNorm).
    public func groupNorm(groups: Int, eps: Float, sampleScale: [Float], sampleShift: [Float]) throws -> Tensor {
        guard rank >= 2, sampleScale.count == shape[0] * shape[1], sampleShift.count == sampleScale.count else {
            throw TensorError.shapeMismatch("per-sample GroupNorm affine of \(sampleScale.count)/\(sampleShift.count) values for \(shape)")
        }
        let c = shape[1]
        return try Profiler.measure("adaptive groupnorm \(layout)") {
            try groupNormImpl(groups: groups, gamma: [Float](repeating: 1, count: c), beta: [Float](repeating: 0, count: c),
                              eps: eps, silu: false, post: (sampleScale, sampleShift))
        }
    }

    private func groupNormImpl(groups: Int, gamma: [Float], beta: [Float], eps: Float, silu fuseSiLU: Bool,
                               post: (scale: [Float], shift: [Float])?) throws -> Tensor {
        // Channels-last input is normalised in the blocked layout (the result stays blocked).
        if layout == .nhwc {
            return try to(.nChw16c).groupNormImpl(groups: groups, gamma: gamma, beta: beta, eps: eps, silu: fuseSiLU, post: post)
        }
        guard rank >= 2 else { throw TensorError.shapeMismatch("GroupNorm needs [N, C, ...], got \(shape)") }
        let n = shape[0], c = shape[1]
        let hw = shape.dropFirst(2).reduce(1, *)
        guard groups > 0, c % groups == 0 else {
            throw TensorError.invalidArgument("GroupNorm: \(c) channels do not split into \(groups) groups")
        }
        guard gamma.count == c, beta.count == c else {
            throw TensorError.shapeMismatch("GroupNorm affine parameters have \(gamma.count)/\(beta.count) values, expected \(c)")
        }
        let perGroup = c / groups
        // 1. Per-channel moments.
        var moments = [Moments](repeating: Moments(), count: n * c)
        let src = pointer
        let blocked = layout == .nChw16c
        let cb = (c + 15) / 16
        moments.withUnsafeMutableBufferPointer { mom in
            let momBase = mom.baseAddress!
            if blocked {
                parallelFor(n * cb) { range in
                    for job in range {
                        let b = job / cb, blk = job % cb
                        let base = src + (b * cb + blk) * hw * 16
                        let shift = hw > 0 ? loadVec(base) : Vec16()
                        var s1 = SIMD16<Double>(), s2 = SIMD16<Double>()
                        var p = 0
                        while p < hw {
                            let end = Swift.min(hw, p + 32)
                            var a1 = Vec16(), a2 = Vec16()
                            while p < end {
                                let d = loadVec(base + p * 16) - shift
                                a1 += d
                                a2 += d * d
                                p += 1
                            }
                            s1 += SIMD16<Double>(a1)
                            s2 += SIMD16<Double>(a2)
                        }
                        for l in 0..<Swift.min(16, c - blk * 16) {
                            momBase[b * c + blk * 16 + l] = Moments(shift: Double(shift[l]), sum: s1[l],
                                                                     sumSquares: s2[l], count: Double(hw))
                        }
                    }
                }
            } else {
                parallelFor(n * c) { range in
                    for job in range {
                        let base = src + job * hw
                        let shift = hw > 0 ? base[0] : 0
                        let shiftV = Vec16(repeating: shift)
                        var s1 = 0.0, s2 = 0.0
                        var p = 0
                        while p + 16 <= hw {
                            let end = Swift.min(hw - 15, p + 16 * 32)
                            var a1 = Vec16(), a2 = Vec16()
                            while p < end {
                                let d = loadVec(base + p) - shiftV
                                a1 += d
                                a2 += d * d
                                p += 16
                            }
                            s1 += SIMD16<Double>(a1).sum()
                            s2 += SIMD16<Double>(a2).sum()
                        }
                        while p < hw {
                            let d = Double(base[p] - shift)
                            s1 += d; s2 += d * d
                            p += 1
                        }
                        momBase[job] = Moments(shift: Double(shift), sum: s1, sumSquares: s2, count: Double(hw))
                    }
                }
            }
        }
        // 2. Group statistics -> per-channel scale and shift.
        var scale = [Float](repeating: 0, count: n * cb * 16)
        var shiftOut = [Float](repeating: 0, count: n * cb * 16)
        for b in 0..<n {
            for g in 0..<groups {
                var m = Moments()
                for ch in (g * perGroup)..<((g + 1) * perGroup) { m.merge(moments[b * c + ch]) }
                let variance = m.n > 0 ? m.m2 / m.n : 0
                // PyTorch: rstd = 1 / sqrt(max(var, 0) + eps) in float.
                let rstd = 1 / (Float(variance) + eps).squareRoot()
                let mean = Float(m.mean)
                for ch in (g * perGroup)..<((g + 1) * perGroup) {
                    let s = rstd * gamma[ch]
                    scale[b * cb * 16 + ch] = s
                    shiftOut[b * cb * 16 + ch] = -s * mean + beta[ch]
                }
            }
        }
        // Per-sample affine after the normalisation, in the same padded [n][cb·16] arrangement (padding lanes 0).
        var postScale = [Float](repeating: 0, count: post == nil ? 0 : n * cb * 16)
        var postShift = postScale
        if let post {
            for b in 0..<n {
                for ch in 0..<c {
                    postScale[b * cb * 16 + ch] = post.scale[b * c + ch]
                    postShift[b * cb * 16 + ch] = post.shift[b * c + ch]
                }
            }
        }
        let hasPost = post != nil
        // 3. y = x * scale + shift (then SiLU, or the per-sample affine).
        let out = Tensor(uninitialized: shape, layout: layout)
        let dst = out.pointer
        scale.withUnsafeBufferPointer { scaleBuf in
            shiftOut.withUnsafeBufferPointer { shiftBuf in
              postScale.withUnsafeBufferPointer { postScaleBuf in
                postShift.withUnsafeBufferPointer { postShiftBuf in
                let sc = scaleBuf.baseAddress!, sh = shiftBuf.baseAddress!
                let psc = postScaleBuf.baseAddress, psh = postShiftBuf.baseAddress
                if hasPost, let psc, let psh {
                    // Adaptive form: no SiLU; (x·s + t) rounded, then ·a rounded, then + b.
                    if blocked {
                        parallelFor(n * cb, grain: 1) { range in
                            for bb in range {
                                let b = bb / cb, blk = bb % cb, o = b * cb * 16 + blk * 16
                                let s = loadVec(sc + o), t = loadVec(sh + o), a = loadVec(psc + o), d = loadVec(psh + o)
                                let off = bb * hw * 16
                                for p in 0..<hw { storeVec((loadVec(src + off + p * 16) * s + t) * a + d, dst + off + p * 16) }
                            }
                        }
                    } else {
                        parallelFor(n * c, grain: Swift.max(1, 4096 / Swift.max(hw, 1))) { range in
                            for job in range {
                                let b = job / c, ch = job % c, o = b * cb * 16 + ch
                                let s = sc[o], t = sh[o], a = psc[o], d = psh[o]
                                let base = src + job * hw, out = dst + job * hw
                                for p in 0..<hw { out[p] = (base[p] * s + t) * a + d }
                            }
                        }
                    }
                } else if blocked {
                    let chunk = 256
                    let chunksPerBlock = (hw + chunk - 1) / chunk
                    parallelFor(n * cb * chunksPerBlock, grain: 4) { range in
                        for job in range {
                            let bb = job / chunksPerBlock, part = job % chunksPerBlock
                            let b = bb / cb
                            let blk = bb % cb
                            let s = loadVec(sc + b * cb * 16 + blk * 16), t = loadVec(sh + b * cb * 16 + blk * 16)
                            let off = bb * hw * 16
                            let lo = part * chunk, hi = Swift.min(hw, lo + chunk)
                            if fuseSiLU {
                                for p in lo..<hi { storeVec(vsilu(loadVec(src + off + p * 16) * s + t), dst + off + p * 16) }
                            } else {
                                for p in lo..<hi { storeVec(loadVec(src + off + p * 16) * s + t, dst + off + p * 16) }
                            }
                        }
                    }
                } else {
                    parallelFor(n * c, grain: Swift.max(1, 4096 / Swift.max(hw, 1))) { range in
                        for job in range {
                            let b = job / c, ch = job % c
                            let s = sc[b * cb * 16 + ch], t = sh[b * cb * 16 + ch]
                            let sv = Vec16(repeating: s), tv = Vec16(repeating: t)
                            let base = src + job * hw, o = dst + job * hw
                            var p = 0
                            while p + 16 <= hw {
                                let y = loadVec(base + p) * sv + tv
                                storeVec(fuseSiLU ? vsilu(y) : y, o + p)
                                p += 16
                            }
                            if p < hw {
                                var v = Vec16()
                                for k in p..<hw { v[k - p] = base[k] }
                                var y = v * sv + tv
                                if fuseSiLU { y = vsilu(y) }
                                for k in p..<hw { o[k] = y[k - p] }
                            }
                        }
                    }
                }
                }
              }
            }
        }
        return out
    }

    /// torch.nn.LayerNorm over the last dimension of a plain tensor.
    public func layerNorm(gamma: [Float], beta: [Float], eps: Float) throws -> Tensor {
        guard rank >= 1, let d = shape.last, d > 0 else { throw TensorError.shapeMismatch("LayerNorm on \(shape)") }
        guard gamma.count == d, beta.count == d else {
            throw TensorError.shapeMismatch("LayerNorm parameters have \(gamma.count)/\(beta.count) values, expected \(d)")
        }
        let x = plain()
        let rows = count / d
        let out = Tensor(uninitialized: shape)
        let src = x.pointer, dst = out.pointer
        gamma.withUnsafeBufferPointer { gb in
            beta.withUnsafeBufferPointer { bb in
                let g = gb.baseAddress!, be = bb.baseAddress!
                parallelFor(rows, grain: Swift.max(1, 8192 / d)) { range in
                    for r in range {
                        let row = src + r * d, o = dst + r * d
                        let shift = row[0]
                        let sv = Vec16(repeating: shift)
                        var s1 = 0.0, s2 = 0.0
                        var i = 0
                        while i + 16 <= d {
                            let end = Swift.min(d - 15, i + 16 * 32)
                            var a1 = Vec16(), a2 = Vec16()
                            while i < end {
                                let v = loadVec(row + i) - sv
                                a1 += v; a2 += v * v
                                i += 16
                            }
                            s1 += SIMD16<Double>(a1).sum(); s2 += SIMD16<Double>(a2).sum()
                        }
                        while i < d { let v = Double(row[i] - shift); s1 += v; s2 += v * v; i += 1 }
                        let m = Moments(shift: Double(shift), sum: s1, sumSquares: s2, count: Double(d))
                        let rstd = 1 / (Float(m.m2 / m.n) + eps).squareRoot()
                        let mean = Float(m.mean)
                        // PyTorch: (x * rstd + (-mean * rstd)) * gamma + beta.
                        let sc = Vec16(repeating: rstd), sh = Vec16(repeating: -mean * rstd)
                        i = 0
                        while i + 16 <= d {
                            storeVec((loadVec(row + i) * sc + sh) * loadVec(g + i) + loadVec(be + i), o + i)
                            i += 16
                        }
                        while i < d { o[i] = (row[i] * rstd + (-mean * rstd)) * g[i] + be[i]; i += 1 }
                    }
                }
            }
        }
        return out
    }
}
