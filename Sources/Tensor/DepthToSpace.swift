// Depth-to-space in DCR order ("depth-column-row", ONNX's default mode), as Open-MAGVIT2's `depth_to_space`
// computes it: `x.view(N, b, b, C/b², H, W).permute(0, 3, 4, 1, 5, 2)`, i.e. with b = 2
//     out[n, c, 2h + i, 2w + j] = in[n, (2i + j)·C/4 + c, h, w].
// This is NOT `F.pixel_shuffle`, which reads channel c·4 + 2i + j. In DCR order each phase (i, j) is a contiguous
// run of C/4 channels, so in the blocked nChw16c layout (C/4 a multiple of 16) whole 16-channel vectors move.

extension Tensor {
    /// `depth_to_space(x, block_size=2)` in DCR order: `[N, 4C, H, W]` to `[N, C, 2H, 2W]`, in the input's
    /// layout (plain, or nChw16c when C is a multiple of 16; other layouts go through plain).
    public func depthToSpace2x() throws -> Tensor {
        guard rank == 4, shape[1] % 4 == 0, shape[1] > 0 else {
            throw TensorError.shapeMismatch("depth_to_space(2) needs [N, 4C, H, W], got \(shape)")
        }
        let c = shape[1] / 4
        if layout == .nhwc || (layout == .nChw16c && c % 16 != 0) { return try plain().depthToSpace2x() }
        return Profiler.measure("depth_to_space") { layout == .plain ? depthToSpacePlain(c) : depthToSpaceBlocked(c) }
    }

    private func depthToSpacePlain(_ c: Int) -> Tensor {
        let n = shape[0], h = shape[2], w = shape[3]
        let out = Tensor(uninitialized: [n, c, 2 * h, 2 * w])
        let src = pointer, dst = out.pointer
        // One job per output row: (image, channel, input row, i).
        parallelFor(n * c * h * 2, grain: 32) { range in
            for job in range {
                let i = job % 2, y = (job / 2) % h, ch = (job / (2 * h)) % c, b = job / (2 * h * c)
                let even = src + ((b * 4 * c + (2 * i) * c + ch) * h + y) * w
                let odd = src + ((b * 4 * c + (2 * i + 1) * c + ch) * h + y) * w
                let row = dst + ((b * c + ch) * 2 * h + 2 * y + i) * 2 * w
                for x in 0..<w {
                    row[2 * x] = even[x]
                    row[2 * x + 1] = odd[x]
                }
            }
        }
        return out
    }

    private func depthToSpaceBlocked(_ c: Int) -> Tensor {
        let n = shape[0], h = shape[2], w = shape[3]
        let cbIn = shape[1] / 16, cbOut = c / 16
        let out = Tensor(uninitialized: [n, c, 2 * h, 2 * w], layout: .nChw16c)
        let src = pointer, dst = out.pointer
        parallelFor(n * cbOut * h * 2, grain: 16) { range in
            for job in range {
                let i = job % 2, y = (job / 2) % h, blk = (job / (2 * h)) % cbOut, b = job / (2 * h * cbOut)
                let even = src + ((b * cbIn + (2 * i) * cbOut + blk) * h + y) * w * 16
                let odd = src + ((b * cbIn + (2 * i + 1) * cbOut + blk) * h + y) * w * 16
                let row = dst + ((b * cbOut + blk) * 2 * h + 2 * y + i) * 2 * w * 16
                for x in 0..<w {
                    storeVec(loadVec(even + x * 16), row + 2 * x * 16)
                    storeVec(loadVec(odd + x * 16), row + (2 * x + 1) * 16)
                }
            }
        }
        return out
    }
}
