// `torch.nn.functional.interpolate(x, size=(outH, outW), mode="bilinear", align_corners=False)` on float32 CHW
// data, reproducing ATen's CPU kernel bit for bit (spec/metrics.md §2.5):
//   scale = Float(in) / Float(out); src = scale * (dst + 0.5) - 0.5 (float32, no FMA), clamped below at 0;
//   i0 = min(floor(src), in - 1); i1 = i0 + (i0 < in - 1 ? 1 : 0); l1 = clamp(src - i0, 0, 1); l0 = 1 - l1;
//   in == out: identity (copy).
// ATen picks one of two kernels for float NCHW input (UpSampleKernel.cpp, upsample_bilinear2d_kernel_impl_float):
// - generic (`upsample_generic_Nd_kernel_impl`), used when outH + outW > 128 (and more than one thread): compiled
//   with FMA contraction it evaluates t = fma(x00, w0, x01 * w1) along the width for the two source rows, then
//   out = fma(t_top, h0, t_bot * h1);
// - channels-last (`cpu_upsample_linear_channels_last`), used when outH + outW <= 128 (or with one thread and
//   3 channels): weights w_ij = h_i * w_j (float32), out = fma(x11, w11, fma(x10, w10, fma(x00, w00, x01 * w01))).
// `.auto` follows ATen's choice for a multi-threaded run. (A single-threaded PyTorch also takes the channels-last
// kernel for 3-channel inputs of any size; for outputs above 128 that run was not reproduced bit for bit here —
// the differences are float rounding, ~1 ulp.) The ATen DEFAULT (no-FMA) build rounds every product of
// the generic formula (`fma: false`). Verified bit-exact against torch 2.15 (AVX-512 capability) on CPU.

public enum Interpolate {
    struct Taps {
        var i0: [Int]
        var i1: [Int]
        var l0: [Float]
        var l1: [Float]
    }

    static func taps(inSize: Int, outSize: Int) -> Taps {
        var t = Taps(i0: [], i1: [], l0: [], l1: [])
        if inSize == outSize {
            for d in 0..<outSize { t.i0.append(d); t.i1.append(d); t.l0.append(1); t.l1.append(0) }
            return t
        }
        let scale = Float(inSize) / Float(outSize)
        for d in 0..<outSize {
            let p = scale * (Float(d) + 0.5)   // two roundings, as ATen (no contraction)
            var src = p - 0.5
            if src < 0 { src = 0 }
            let i0 = min(Int(src.rounded(.down)), inSize - 1)
            let i1 = i0 + (i0 < inSize - 1 ? 1 : 0)
            let l1 = min(max(src - Float(i0), 0), 1)
            t.i0.append(i0); t.i1.append(i1); t.l1.append(l1); t.l0.append(1 - l1)
        }
        return t
    }

    public enum Kernel: Sendable {
        /// ATen's choice with more than one thread: channels-last if outH + outW <= 128, else generic.
        case auto
        case generic
        case channelsLast
    }

    /// Bilinear resize of `channels` planes of `inHeight x inWidth` float32 (CHW, or NCHW with channels = N*C).
    public static func bilinear(_ x: [Float], channels: Int, inHeight: Int, inWidth: Int,
                                outHeight: Int, outWidth: Int, kernel: Kernel = .auto,
                                fma: Bool = true) throws -> [Float] {
        guard channels >= 0, inHeight > 0, inWidth > 0, outHeight > 0, outWidth > 0,
              x.count == channels * inHeight * inWidth else {
            throw ImagingError(.invalidArgument, file: "<memory>",
                               "interpolate: \(x.count) values for \(channels)x\(inHeight)x\(inWidth)")
        }
        if inHeight == outHeight && inWidth == outWidth { return x }
        let tw = taps(inSize: inWidth, outSize: outWidth)
        let th = taps(inSize: inHeight, outSize: outHeight)
        var out = [Float](repeating: 0, count: channels * outHeight * outWidth)
        let channelsLast: Bool
        switch kernel {
        case .auto: channelsLast = outHeight + outWidth <= 128
        case .generic: channelsLast = false
        case .channelsLast: channelsLast = true
        }
        if channelsLast && fma {
            x.withUnsafeBufferPointer { s in
                out.withUnsafeMutableBufferPointer { o in
                    for c in 0..<channels {
                        let plane = c * inHeight * inWidth
                        let oplane = c * outHeight * outWidth
                        for oy in 0..<outHeight {
                            let r0 = plane + th.i0[oy] * inWidth, r1 = plane + th.i1[oy] * inWidth
                            let h0 = th.l0[oy], h1 = th.l1[oy]
                            let orow = oplane + oy * outWidth
                            for ox in 0..<outWidth {
                                let a = tw.i0[ox], b = tw.i1[ox]
                                let w00 = h0 * tw.l0[ox], w01 = h0 * tw.l1[ox]
                                let w10 = h1 * tw.l0[ox], w11 = h1 * tw.l1[ox]
                                var acc = (s[r0 + b] * w01).addingProduct(s[r0 + a], w00)
                                acc = acc.addingProduct(s[r1 + a], w10)
                                o[orow + ox] = acc.addingProduct(s[r1 + b], w11)
                            }
                        }
                    }
                }
            }
            return out
        }
        x.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { o in
                for c in 0..<channels {
                    let plane = c * inHeight * inWidth
                    let oplane = c * outHeight * outWidth
                    for oy in 0..<outHeight {
                        let r0 = plane + th.i0[oy] * inWidth, r1 = plane + th.i1[oy] * inWidth
                        let h0 = th.l0[oy], h1 = th.l1[oy]
                        let orow = oplane + oy * outWidth
                        for ox in 0..<outWidth {
                            let a = tw.i0[ox], b = tw.i1[ox]
                            let w0 = tw.l0[ox], w1 = tw.l1[ox]
                            if fma {
                                let top = (s[r0 + b] * w1).addingProduct(s[r0 + a], w0)
                                let bot = (s[r1 + b] * w1).addingProduct(s[r1 + a], w0)
                                o[orow + ox] = (bot * h1).addingProduct(top, h0)
                            } else {
                                let top = s[r0 + a] * w0 + s[r0 + b] * w1
                                let bot = s[r1 + a] * w0 + s[r1 + b] * w1
                                o[orow + ox] = top * h0 + bot * h1
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}
