// Arithmetic precision of the compute-heavy kernels: convolutions, transposed convolutions, linear layers and the
// attention matmuls.
//
// `bf16` follows PyTorch's CPU autocast with dtype=torch.bfloat16 (the paper's own evaluations ran under it): those
// kernels read bfloat16 inputs and weights (rounded to nearest even from float32, as `tensor.to(torch.bfloat16)`
// does) and accumulate in float32. Everything else (normalisations, softmax, activations, the quantizer's codebook
// search, resampling, the metric network) stays float32.
//
// One difference from autocast, on purpose: autocast's kernels return bfloat16 tensors, so every conv / linear /
// matmul output is rounded to bfloat16 once more before the next operation sees it (and GroupNorm, softmax and
// the residual additions then run on bfloat16 tensors). Ours write float32 outputs (oneDNN's bf16 kernels accept
// an f32 destination and add the bias and the fused residual in f32): one rounding fewer per layer, nothing to
// convert back. `ExecutionConfig.roundsBFloat16Outputs` adds autocast's output rounding. Measured
// on the demo VQGAN (4 images, 4096 codes): codes equal to fp32 97.19% without it, 97.12% with it, mean PSNR
// 19.86 dB either way, while it cost 5% of the run time of rt_f8 (a scalar loop then; a pass over every output
// in any case). It brings the result no closer to PyTorch's autocast in any way we can check (that differs from
// both by near-tie code flips: tools/bf16_autocast.py), so it is off by default.
//
// Speed: bf16 pays where bfloat16 dot products are cheaper than float32 FMAs (AMX tiles). On AVX512-BF16 CPUs
// without AMX, VDPBF16PS retires at a quarter of VFMADD231PS's rate, i.e. half the float32 FLOP rate, so bf16
// convolutions are slower than fp32 ones there (README's performance section has the measured ratios). The option is there for machines where it pays, and for
// reproducing bf16 evaluations.
import Foundation

public enum Precision: String, Sendable, CaseIterable {
    /// float32 inputs, weights and accumulation (PyTorch's default).
    case fp32
    /// bfloat16 inputs and weights, float32 accumulation and outputs (see the file comment).
    case bf16
}

/// Rounds float32 values to the nearest bfloat16 (ties to even), in place, keeping them as float32: what
/// `x.to(torch.bfloat16).float()` gives. NaNs stay NaN (quieted); infinities and overflow to infinity as in PyTorch.
func roundToBFloat16(_ p: UnsafeMutablePointer<Float>, count: Int) {
    @inline(__always) func round(_ bits: UInt32) -> UInt32 {
        bits & 0x7FFF_FFFF > 0x7F80_0000 ? (bits | 0x0040_0000) & 0xFFFF_0000
                                         : (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) & 0xFFFF_0000
    }
    let raw = UnsafeMutableRawPointer(p)
    parallelFor(count, grain: 1 << 16) { range in
        var i = range.lowerBound
        while i + 16 <= range.upperBound {
            let bits = raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<UInt32>.self)
            let rounded = (bits &+ 0x7FFF &+ ((bits &>> 16) & 1)) & 0xFFFF_0000
            let quietNaN = (bits | 0x0040_0000) & 0xFFFF_0000
            raw.storeBytes(of: rounded.replacing(with: quietNaN, where: (bits & 0x7FFF_FFFF) .> 0x7F80_0000),
                           toByteOffset: 4 * i, as: SIMD16<UInt32>.self)
            i += 16
        }
        while i < range.upperBound {
            raw.storeBytes(of: round(raw.load(fromByteOffset: 4 * i, as: UInt32.self)), toByteOffset: 4 * i, as: UInt32.self)
            i += 1
        }
    }
}

import CDNNL

extension Precision {
    /// Whether oneDNN has bfloat16 kernels on this CPU (AVX512-BF16, AMX, or AVX-512 for its emulating jit
    /// kernels). Where it has none (AVX2 machines), bf16 is emulated: the operands are rounded to bfloat16 values
    /// kept in float32 and the float32 kernels run. A product of two bfloat16 values is exact in float32, so this
    /// computes what the bf16 kernels compute, up to the order of the float32 accumulation. Probed once.
    public static let nativeBFloat16: Bool = {
        guard var a = try? DNNL.md([16, 16], dnnl_ab, dnnl_bf16), var b = try? DNNL.md([16, 16], dnnl_ab, dnnl_bf16),
              var c = try? DNNL.md([16, 16], dnnl_ab), let attr = try? DNNL.attr() else { return false }
        defer { dnnl_primitive_attr_destroy(attr) }
        var d = dnnl_matmul_desc_t()
        guard dnnl_matmul_desc_init(&d, &a, &b, nil, &c) == dnnl_success else { return false }
        let names = (try? withUnsafePointer(to: &d) { try DNNLPrimitive.candidates(opDesc: UnsafeRawPointer($0), attr: attr) }) ?? []
        return names.contains { !$0.hasPrefix("ref") }
    }()

    /// bf16 on a CPU without oneDNN bfloat16 kernels: operands rounded, float32 kernels (see `nativeBFloat16`).
    var isEmulatedBFloat16: Bool { self == .bf16 && !Precision.nativeBFloat16 }

    /// oneDNN's element type for the operands (inputs and weights) of a kernel in this precision.
    var operandType: dnnl_data_type_t { self == .bf16 && Precision.nativeBFloat16 ? dnnl_bf16 : dnnl_f32 }
}

/// A copy of `count` floats from `source`, rounded to bfloat16 values (emulated bf16 operands).
func bfloat16RoundedCopy(_ source: UnsafePointer<Float>, count: Int) -> TensorStorage {
    let copy = TensorStorage(uninitialized: count)
    copy.pointer.update(from: source, count: count)
    roundToBFloat16(copy.pointer, count: count)
    return copy
}
