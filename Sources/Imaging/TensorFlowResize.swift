// TensorFlow 1.x `resize_bilinear` (align_corners=False, no half-pixel centres) as torch-fidelity 0.4.0
// reimplements it (`interpolate_compat_tensorflow.py`, `interpolate_bilinear_2d_like_tensorflow1x`, method "slow",
// which its docstring calls bit-exact on CPU). Per axis, in float32 as its tensors are:
//   scale = Float(Double(in) / Double(out))        (a Python float made a float32 tensor)
//   src   = Float(dst) * scale;  lo = trunc(src);  hi = min(lo + 1, in - 1);  frac = src - Float(lo)
// and per output value, each operation its own rounded float32 tensor op (no FMA):
//   top = x[lo_y][lo_x] + (x[lo_y][hi_x] - x[lo_y][lo_x]) * frac_x,  bottom likewise on row hi_y,
//   out = top + (bottom - top) * frac_y.
// torch-fidelity's InceptionV3 applies it to the uint8 image converted to float32 ([0, 255]) before `(x - 128) / 128`.

public enum TensorFlowResize {
    struct Axis {
        var lo: [Int]
        var hi: [Int]
        var frac: [Float]
    }

    static func axis(inSize: Int, outSize: Int) -> Axis {
        let scale = Float(Double(inSize) / Double(outSize))
        var a = Axis(lo: [], hi: [], frac: [])
        for d in 0..<outSize {
            let src = Float(d) * scale
            let lo = Int(src)   // `.long()` truncates; src >= 0
            a.lo.append(lo)
            a.hi.append(Swift.min(lo + 1, inSize - 1))
            a.frac.append(src - Float(lo))
        }
        return a
    }

    /// Resizes `channels` float32 planes (CHW) of `inHeight x inWidth` to `outHeight x outWidth`.
    public static func bilinear(_ x: [Float], channels: Int, inHeight: Int, inWidth: Int,
                                outHeight: Int, outWidth: Int) throws -> [Float] {
        guard channels >= 0, inHeight > 0, inWidth > 0, outHeight > 0, outWidth > 0,
              x.count == channels * inHeight * inWidth else {
            throw ImagingError(.invalidArgument, file: "<memory>",
                               "TF1 resize: \(x.count) values for \(channels)x\(inHeight)x\(inWidth) to \(outHeight)x\(outWidth)")
        }
        let ax = axis(inSize: inWidth, outSize: outWidth), ay = axis(inSize: inHeight, outSize: outHeight)
        var out = [Float](repeating: 0, count: channels * outHeight * outWidth)
        x.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for c in 0..<channels {
                    let plane = src.baseAddress! + c * inHeight * inWidth
                    let o = dst.baseAddress! + c * outHeight * outWidth
                    for oy in 0..<outHeight {
                        let r0 = plane + ay.lo[oy] * inWidth, r1 = plane + ay.hi[oy] * inWidth
                        let fy = ay.frac[oy]
                        for ox in 0..<outWidth {
                            let l = ax.lo[ox], h = ax.hi[ox], fx = ax.frac[ox]
                            let d0 = r0[h] - r0[l], p0 = d0 * fx, top = r0[l] + p0
                            let d1 = r1[h] - r1[l], p1 = d1 * fx, bottom = r1[l] + p1
                            let dv = bottom - top, pv = dv * fy
                            o[oy * outWidth + ox] = top + pv
                        }
                    }
                }
            }
        }
        return out
    }
}
