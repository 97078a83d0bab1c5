// The kind of CPU the kernels run on. oneDNN (vqrt's and PyTorch's) picks its kernels by instruction set, and
// the kernels' rounding depends on it: on the same model, PyTorch's float32 error was measured up to 5.5x larger
// with its AVX2 convolutions than with its AVX-512 ones. The conformance fixtures record PyTorch's error per kind,
// named like PyTorch's CPU capability ("AVX2", "AVX512"), and the tests scale the entry of this kind.

import CDNNL

public enum CPUKind: String, Sendable, CaseIterable {
    case avx512 = "AVX512"
    case avx2 = "AVX2"

    /// The kind of oneDNN's effective instruction set (what its kernels run; ONEDNN_MAX_CPU_ISA can lower it), or
    /// nil below AVX2.
    public static let current: CPUKind? = {
        let isa = dnnl_get_effective_cpu_isa().rawValue
        // The ISA values are bit masks, each containing the ones it extends (avx512_core = 0x27 contains avx2 =
        // 0x7; the Xeon Phi avx512_mic does not contain avx512_core).
        if isa & dnnl_cpu_isa_avx512_core.rawValue == dnnl_cpu_isa_avx512_core.rawValue { return .avx512 }
        if isa & dnnl_cpu_isa_avx2.rawValue == dnnl_cpu_isa_avx2.rawValue { return .avx2 }
        return nil
    }()

    /// oneDNN's effective instruction set, for messages (e.g. "0x27").
    public static var effectiveISA: String { "0x" + String(dnnl_get_effective_cpu_isa().rawValue, radix: 16) }
}
