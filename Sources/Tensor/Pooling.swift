// 2-d pooling as torch.nn.functional computes it on CPU: max_pool2d, avg_pool2d (both `count_include_pad`
// semantics) and adaptive_avg_pool2d to 1×1 (global average).
//
// Arithmetic per output value follows ATen's channels-first kernels (spec/metrics.md §3.3): a window is visited
// in row-major order; max starts at -inf (padding never wins); avg sums in float32 in that order, then divides by
// the divisor (never multiplies by its reciprocal); the global average is `sum / H / W` (AdaptiveAvgPoolKernel).
// The 16 channels of an nChw16c block are pooled at once in one AVX-512 register, each lane doing exactly the
// scalar arithmetic, so results do not depend on the layout. Block padding (channels past C) holds zeros and
// pools to zeros.
//
// `reluInput` applies max(0, ·) to every value read. For max pooling that equals a ReLU after pooling (max and
// ReLU commute), which lets a network skip a pass over the larger pre-pool activation.

extension Tensor {
    /// torch.nn.functional.max_pool2d(x, kernel, stride, padding, ceil_mode=ceilMode) (dilation 1). In ceil mode
    /// the last window may run past the input (and is clipped to it), unless it would start in the right/bottom
    /// padding (PyTorch's `pooling_output_shape`).
    public func maxPool2d(kernel: Int, stride: Int, padding: Int = 0, ceilMode: Bool = false,
                          reluInput: Bool = false) throws -> Tensor {
        try Profiler.measure("max pool") {
            try pool(kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode, op: .max(relu: reluInput))
        }
    }

    /// torch.nn.functional.avg_pool2d(x, kernel, stride, padding, count_include_pad=countIncludePad)
    /// (floor mode, no divisor override).
    public func avgPool2d(kernel: Int, stride: Int, padding: Int = 0, countIncludePad: Bool = true) throws -> Tensor {
        try Profiler.measure("avg pool") {
            try pool(kernel: kernel, stride: stride, padding: padding, op: .average(countIncludePad: countIncludePad))
        }
    }

    /// adaptive_avg_pool2d(x, 1) flattened: `[N, C, H, W]` -> plain `[N, C]`.
    public func globalAveragePool(reluInput: Bool = false) throws -> Tensor {
        guard rank == 4, shape[2] > 0, shape[3] > 0 else {
            throw TensorError.shapeMismatch("global average pool expects [N, C, H, W] with H, W > 0, got \(shape)")
        }
        let x = layout == .nChw16c ? self : try to(.nChw16c)
        let n = shape[0], c = shape[1], h = shape[2], w = shape[3], hw = h * w, cb = (c + 15) / 16
        let out = Tensor(uninitialized: [n, c])
        let src = x.pointer, dst = out.pointer
        let fh = Vec16(repeating: Float(h)), fw = Vec16(repeating: Float(w)), zero = Vec16(repeating: 0)
        parallelFor(n * cb, grain: 4) { range in
            for job in range {
                let b = job / cb, blk = job % cb
                let plane = src + job * hw * 16
                var sum = Vec16(repeating: 0)
                if reluInput {
                    for p in 0..<hw { sum += laneMax(loadVec(plane + p * 16), zero) }
                } else {
                    for p in 0..<hw { sum += loadVec(plane + p * 16) }
                }
                let mean = sum / fh / fw
                let lanes = Swift.min(16, c - blk * 16)
                let o = dst + b * c + blk * 16
                for l in 0..<lanes { o[l] = mean[l] }
            }
        }
        return out
    }

    private enum PoolOp { case max(relu: Bool), average(countIncludePad: Bool) }

    private func pool(kernel k: Int, stride s: Int, padding p: Int, ceilMode: Bool = false, op: PoolOp) throws -> Tensor {
        guard rank == 4 else { throw TensorError.shapeMismatch("pooling expects [N, C, H, W], got \(shape)") }
        guard k > 0, s > 0, p >= 0, p <= k / 2 else {
            // PyTorch: "pad should be at most half of effective kernel size".
            throw TensorError.invalidArgument("pooling kernel \(k), stride \(s), padding \(p)")
        }
        let n = shape[0], c = shape[1], h = shape[2], w = shape[3]
        func outputSize(_ size: Int) -> Int {
            let span = size + 2 * p - k
            guard span >= 0 else { return 0 }
            var o = (ceilMode ? (span + s - 1) / s : span / s) + 1
            if ceilMode, (o - 1) * s >= size + p { o -= 1 }
            return o
        }
        let oh = outputSize(h), ow = outputSize(w)
        guard h + 2 * p >= k, w + 2 * p >= k, oh > 0, ow > 0 else {
            throw TensorError.shapeMismatch("input \(shape) is too small for a \(k)x\(k) pooling window")
        }
        // Other layouts go through the blocked kernel (the conversions are exact copies).
        let x = layout == .nChw16c ? self : try to(.nChw16c)
        let cb = (c + 15) / 16
        let out = Tensor(uninitialized: [n, c, oh, ow], layout: .nChw16c)
        let src = x.pointer, dst = out.pointer
        let inPlane = h * w * 16, outPlane = oh * ow * 16
        // One job per output row of one 16-channel plane; the operation is chosen outside the loops so that each
        // inner loop is a plain run of vector loads and max / add.
        switch op {
        case .max(let relu):
            let start = Vec16(repeating: relu ? 0 : -.infinity)
            parallelFor(n * cb * oh, grain: 8) { range in
                for job in range {
                    let plane = job / oh, oy = job % oh
                    let sp = src + plane * inPlane, dp = dst + plane * outPlane + oy * ow * 16
                    let hs = Swift.max(oy * s - p, 0), he = Swift.min(oy * s - p + k, h)
                    for ox in 0..<ow {
                        let ws = Swift.max(ox * s - p, 0), we = Swift.min(ox * s - p + k, w)
                        var m = start
                        var iy = hs
                        while iy < he {
                            var q = sp + (iy * w + ws) * 16
                            let end = sp + (iy * w + we) * 16
                            while q < end { m = laneMax(m, loadVec(q)); q += 16 }
                            iy += 1
                        }
                        storeVec(m, dp + ox * 16)
                    }
                }
            }
        case .average(let includePad):
            parallelFor(n * cb * oh, grain: 8) { range in
                for job in range {
                    let plane = job / oh, oy = job % oh
                    let sp = src + plane * inPlane, dp = dst + plane * outPlane + oy * ow * 16
                    // Window rows, PyTorch style: the padded extent first (for count_include_pad), then clipped.
                    let hs0 = oy * s - p
                    let he0 = Swift.min(hs0 + k, h + p)
                    let hs = Swift.max(hs0, 0), he = Swift.min(he0, h)
                    for ox in 0..<ow {
                        let ws0 = ox * s - p
                        let we0 = Swift.min(ws0 + k, w + p)
                        let ws = Swift.max(ws0, 0), we = Swift.min(we0, w)
                        var sum = Vec16(repeating: 0)
                        var iy = hs
                        while iy < he {
                            var q = sp + (iy * w + ws) * 16
                            let end = sp + (iy * w + we) * 16
                            while q < end { sum += loadVec(q); q += 16 }
                            iy += 1
                        }
                        let count = includePad ? (he0 - hs0) * (we0 - ws0) : (he - hs) * (we - ws)
                        storeVec(sum / Vec16(repeating: Float(count)), dp + ox * 16)
                    }
                }
            }
        }
        return layout == .nChw16c ? out : try out.to(layout)
    }
}

/// Lane-wise max(a, b) as a compare and blend: the standard library's `pointwiseMax` on SIMD16<Float> is not
/// lowered to vector instructions in this build (it runs lane by lane).
@inline(__always)
private func laneMax(_ a: Vec16, _ b: Vec16) -> Vec16 { a.replacing(with: b, where: b .> a) }
