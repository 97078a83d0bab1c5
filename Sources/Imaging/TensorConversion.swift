// 8-bit RGB (HWC) ↔ float32 CHW tensors, with each upstream's exact arithmetic.

import Foundation

/// How 8-bit pixels become model inputs. Each case names the upstream code it reproduces.
public enum InputScaling: Sendable, Equatable {
    /// torchvision `ToTensor`: `Float(v) / 255` (a true float32 division; multiplying by 1/255 differs).
    case unit
    /// `ToTensor` then torchvision `Normalize(mean, std)`: `(x - mean) / std` in float32 (mean/std as float32).
    case normalized(mean: [Float], std: [Float])
    /// taming / latent-diffusion `ImagePaths`: `(image / 127.5 - 1.0).astype(np.float32)`, i.e. the float64 value
    /// `Double(v) / 127.5 - 1` rounded once to float32.
    case symmetric
    /// pytorch-fid after ToTensor: `2 * (v / 255) - 1` in float32.
    case twoXMinusOne
    /// The byte as a float32 value in [0, 255] (`uint8_tensor.to(torch.float32)`, torch-fidelity).
    case byte
}

/// How model outputs become 8-bit pixels (all but `unitRounded` truncate, as `astype(np.uint8)` /
/// `.to(torch.uint8)` do).
public enum OutputMapping: Sendable, Equatable {
    /// enhancing-transformers loggers: `x.clamp(0, 1)`, then `(x * 255).astype(np.uint8)` in float32.
    case unit
    /// latent-diffusion `sample_diffusion.py` / taming `make_samples.py`: `((x + 1) * 127.5).clamp(0, 255)`,
    /// truncated, in float32.
    case symmetric
    /// rotation_trick `reconstruction_fid.py`: `(x * std + mean)` with float64 numpy constants, `* 255`, then
    /// `astype(np.uint8)`. numpy wraps out-of-range values modulo 256 (x86); `wrap: false` clamps to 0...255
    /// instead (the vqrt default), `wrap: true` reproduces numpy.
    case unnormalize(mean: [Double], std: [Double], wrap: Bool)
    /// LlamaGen `reconstruction_vq_ddp.py` / `val_ddp.py`: `torch.clamp(127.5 * x + 128.0, 0, 255)` then
    /// `.to(torch.uint8)`, in float32 (a multiply and an add, each rounded). The +128 (not +127.5) makes the
    /// truncation round to nearest.
    case symmetricOffset128
    /// 1d-tokenizer `eval_reconstruction`: `torch.clamp(x, 0, 1)`, then `torch.round(x * 255)` in float32
    /// (halves to even), not truncated.
    case unitRounded
}

public enum TensorConversion {
    /// CHW float32 planes of an RGB image under `scaling`.
    public static func chw(_ image: RGBImage, scaling: InputScaling) -> [Float] {
        let n = image.width * image.height
        var out = [Float](repeating: 0, count: 3 * n)
        // Lookup tables: every mapping is a function of (channel, byte).
        var lut = [Float](repeating: 0, count: 3 * 256)
        for c in 0..<3 {
            for v in 0..<256 {
                let x = Float(v) / 255
                let y: Float
                switch scaling {
                case .unit: y = x
                case .normalized(let mean, let std): y = (x - mean[c % mean.count]) / std[c % std.count]
                case .symmetric: y = Float(Double(v) / 127.5 - 1.0)
                case .twoXMinusOne: y = 2 * x - 1
                case .byte: y = Float(v)
                }
                lut[c * 256 + v] = y
            }
        }
        image.pixels.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { o in
                for i in 0..<n {
                    o[i] = lut[Int(p[3 * i])]
                    o[n + i] = lut[256 + Int(p[3 * i + 1])]
                    o[2 * n + i] = lut[512 + Int(p[3 * i + 2])]
                }
            }
        }
        return out
    }

    /// An RGB image from CHW float32 planes under `mapping`. NaN maps to 0.
    public static func pixels(chw x: [Float], width: Int, height: Int, mapping: OutputMapping) throws -> RGBImage {
        let n = width * height
        guard width > 0, height > 0, x.count == 3 * n else {
            throw ImagingError(.invalidArgument, file: "<memory>", "\(x.count) values for a 3x\(height)x\(width) tensor")
        }
        var out = [UInt8](repeating: 0, count: 3 * n)
        x.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { o in
                for c in 0..<3 {
                    for i in 0..<n {
                        o[3 * i + c] = byte(s[c * n + i], channel: c, mapping)
                    }
                }
            }
        }
        return RGBImage(unchecked: width, height, out)
    }

    @inline(__always) static func byte(_ v: Float, channel c: Int, _ mapping: OutputMapping) -> UInt8 {
        switch mapping {
        case .unit:
            if v.isNaN { return 0 }
            let y = min(max(v, 0), 1) * 255
            return UInt8(y)                            // y in [0, 255]: truncation
        case .symmetric:
            if v.isNaN { return 0 }
            let y = min(max((v + 1) * 127.5, 0), 255)
            return UInt8(y)
        case .unnormalize(let mean, let std, let wrap):
            let y = (Double(v) * std[c % std.count] + mean[c % mean.count]) * 255
            if !y.isFinite { return 0 }
            if wrap {
                // numpy float64 → uint8 on x86 goes through a truncating int32 conversion (cvttsd2si): the low 8
                // bits of trunc(y); values outside the int32 range give INT32_MIN, whose low byte is 0.
                guard y > -2147483649.0 && y < 2147483648.0 else { return 0 }
                return UInt8(truncatingIfNeeded: Int32(y))
            }
            return UInt8(min(max(y, 0), 255))
        case .symmetricOffset128:
            if v.isNaN { return 0 }
            let t = 127.5 * v
            return UInt8(min(max(t + 128, 0), 255))
        case .unitRounded:
            if v.isNaN { return 0 }
            return UInt8((min(max(v, 0), 1) * 255).rounded(.toNearestOrEven))
        }
    }
}
