// Nearest 2× upsampling and constant zero padding for [N, C, H, W] tensors, in either layout.

extension Tensor {
    /// A 4-d tensor as `planes` of H rows × W pixels × `lanes` contiguous floats.
    func planesAndLanes() -> (planes: Int, lanes: Int) {
        let n = shape[0], c = shape[1]
        switch layout {
        case .plain: return (n * c, 1)
        case .nChw16c: return (n * ((c + 15) / 16), 16)
        case .nhwc: return (n, c)
        }
    }

    /// F.interpolate(x, scale_factor=2.0, mode="nearest"): out[y, x] = in[y / 2, x / 2].
    public func upsampleNearest2x() throws -> Tensor {
        guard rank == 4 else { throw TensorError.shapeMismatch("upsampling needs [N, C, H, W], got \(shape)") }
        let n = shape[0], c = shape[1], h = shape[2], w = shape[3]
        let out = Tensor(uninitialized: [n, c, 2 * h, 2 * w], layout: layout)
        let src = pointer, dst = out.pointer
        Profiler.measure("upsample2x") {
        // Rows of the output are independent: (plane, output row) pairs are the work items.
        let (planes, lanes) = planesAndLanes()
        parallelFor(planes * h, grain: 16) { range in
            for job in range {
                let plane = job / h, y = job % h
                let s = src + (plane * h + y) * w * lanes
                let d0 = dst + (plane * 2 * h + 2 * y) * 2 * w * lanes
                let d1 = d0 + 2 * w * lanes
                if lanes == 16 && layout == .nChw16c {
                    for x in 0..<w {
                        let v = loadVec(s + x * 16)
                        storeVec(v, d0 + 2 * x * 16); storeVec(v, d0 + (2 * x + 1) * 16)
                    }
                } else if lanes == 1 {
                    for x in 0..<w { let v = s[x]; d0[2 * x] = v; d0[2 * x + 1] = v }
                } else {
                    for x in 0..<w {
                        (d0 + 2 * x * lanes).update(from: s + x * lanes, count: lanes)
                        (d0 + (2 * x + 1) * lanes).update(from: s + x * lanes, count: lanes)
                    }
                }
                d1.update(from: d0, count: 2 * w * lanes)
            }
        }
        }
        return out
    }

    /// Zero padding (F.pad(x, (left, right, top, bottom))).
    public func padded(_ p: Padding2D, value: Float = 0) throws -> Tensor {
        guard rank == 4 else { throw TensorError.shapeMismatch("padding needs [N, C, H, W], got \(shape)") }
        guard p.top >= 0, p.left >= 0, p.bottom >= 0, p.right >= 0 else {
            throw TensorError.invalidArgument("negative padding \(p)")
        }
        let n = shape[0], c = shape[1], h = shape[2], w = shape[3]
        let oh = h + p.top + p.bottom, ow = w + p.left + p.right
        let out = Tensor(uninitialized: [n, c, oh, ow], layout: layout)
        let (planes, lanes) = planesAndLanes()
        let src = pointer, dst = out.pointer
        let blockedPad = layout == .nChw16c && c % 16 != 0
        parallelFor(planes * oh, grain: 16) { range in
            for job in range {
                let plane = job / oh, y = job % oh
                let d = dst + (plane * oh + y) * ow * lanes
                let sy = y - p.top
                if sy < 0 || sy >= h {
                    d.update(repeating: value, count: ow * lanes)
                } else {
                    d.update(repeating: value, count: p.left * lanes)
                    d.advanced(by: p.left * lanes).update(from: src + (plane * h + sy) * w * lanes, count: w * lanes)
                    d.advanced(by: (p.left + w) * lanes).update(repeating: value, count: p.right * lanes)
                }
            }
        }
        // Block padding lanes must stay zero whatever the fill value.
        if blockedPad && value != 0 {
            let cb = (c + 15) / 16, used = c - (cb - 1) * 16
            for b in 0..<n {
                let base = dst + (b * cb + cb - 1) * oh * ow * 16
                for q in 0..<(oh * ow) { (base + q * 16 + used).update(repeating: 0, count: 16 - used) }
            }
        }
        return out
    }
}
