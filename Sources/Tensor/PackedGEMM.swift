// vqrt's own float32 gemm for a B operand used many times (Sources/CKernels/sgemm_packed.c): packed once, then
// every fixed block of rows runs on one thread over the packed copy. Its bits depend on neither the block size nor
// the thread count (each element is summed the same way wherever its row falls), so blocks are a matter of speed.
import CKernels
import Foundation

/// A K×N matrix packed for vqrt_gemm_packed.
final class PackedMatrix: @unchecked Sendable {
    let k: Int, n: Int
    private let storage: TensorStorage

    /// Whether float32 Linear layers and attention use this kernel: on x86-64 CPUs with AVX2 + FMA but no
    /// AVX-512 (there oneDNN's kernels are twice as wide as this one). VQRT_PACKED_GEMM=0 or 1 overrides it (to
    /// compare the two routes on one machine; 1 is ignored where the CPU cannot run the kernel). Read when a layer
    /// is built or an attention call starts; tests and benchmarks set it with `usePackedGEMM`.
    static var isUsed: Bool { override.map { $0 && isAvailable } ?? byDefault }

    /// Whether this CPU can run the kernel at all.
    static let isAvailable = vqrt_gemm_available() != 0

    /// Set through `usePackedGEMM` (tests, benchmarks).
    nonisolated(unsafe) static var override: Bool?

    private static let byDefault: Bool = {
        let available = isAvailable
        switch ProcessInfo.processInfo.environment["VQRT_PACKED_GEMM"] {
        case "0": return false
        case "1": return available
        default: return available && CPUKind.current != .avx512
        }
    }()

    /// What `LinearKernel.implementation` reports for layers on this kernel.
    static let implementation = "vqrt packed gemm (avx2)"

    /// B's element (k, n) at `b[k·kStride + n·nStride]`.
    init(_ b: UnsafePointer<Float>, kStride: Int, nStride: Int, k: Int, n: Int) {
        self.k = k; self.n = n
        storage = TensorStorage(uninitialized: max(1, vqrt_gemm_packed_count(k, n)))
        vqrt_gemm_pack_b(b, kStride, nStride, k, n, storage.pointer)
    }

    /// Rows per task: enough for each pass over B (packed, K·N floats) to be shared by many row tiles, small
    /// enough for a task's rows of A (rows × 512 floats) to stay in L2.
    static let rowsPerTask = 96

    /// C = A·B (+ bias) (+ C's previous contents when `accumulate`) for dense `rows`×K A and `rows`×N C, the rows
    /// spread over the threads in fixed blocks.
    func multiply(_ a: UnsafePointer<Float>, rows: Int, into c: UnsafeMutablePointer<Float>,
                  bias: UnsafePointer<Float>?, accumulate: Bool) {
        let blockRows = PackedMatrix.rowsPerTask, blocks = (rows + blockRows - 1) / blockRows
        let workCount = vqrt_gemm_work_count(blockRows, n, k, accumulate ? 1 : 0)
        parallelFor(blocks) { range in
            let work = TensorStorage(uninitialized: workCount)
            for block in range {
                let row = block * blockRows, count = min(blockRows, rows - row)
                vqrt_gemm_packed(count, n, k, a + row * k, k, storage.pointer, c + row * n, n, 1, bias,
                                 accumulate ? 1 : 0, work.pointer)
            }
            withExtendedLifetime(work) {}
        }
    }
}

/// Forces float32 Linear layers and attention onto vqrt's packed gemm (true) or oneDNN (false), or back to the
/// default (nil), for tests and benchmarks that compare the two on one machine. Layers keep the route they were
/// built with; attention reads it on each call. Not for use while other threads compute.
public func usePackedGEMM(_ use: Bool?) { PackedMatrix.override = use }

/// Whether float32 Linear layers built now, and attention, run on vqrt's packed gemm.
public var usesPackedGEMM: Bool { PackedMatrix.isUsed }
