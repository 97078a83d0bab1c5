// Thread count shared by every kernel family: our own SIMD loops (Dispatch), oneDNN (built with OpenMP in Debian:
// DNNL_CPU_RUNTIME == DNNL_RUNTIME_OMP, linked against libgomp) and OpenBLAS (pthreads build).
import Foundation
import CLAPACK
#if canImport(Glibc)
import Glibc
#endif

/// Process-wide threading settings for vqrt kernels.
public enum Threading {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var _threads = defaultThreads()

    /// All cores the process may run on.
    public static func defaultThreads() -> Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

    /// Number of threads kernels use.
    public static var threads: Int {
        lock.lock(); defer { lock.unlock() }
        return _threads
    }

    /// Limits every kernel family to `n` threads (n <= 0 restores the default: all cores).
    public static func setThreads(_ n: Int) {
        let value = n > 0 ? n : defaultThreads()
        lock.lock(); _threads = value; lock.unlock()
        openblas_set_num_threads(Int32(value))
        applyToOpenMP()
    }

    /// OpenMP's thread count is a per-thread setting (the nthreads ICV of the calling thread), so it is applied
    /// again on whichever thread is about to run a oneDNN primitive.
    static func applyToOpenMP() {
        guard let set = ompSetNumThreads else { return }
        let n = threads
        if ompThreadsApplied != n {
            set(Int32(n))
            ompThreadsApplied = n
        }
    }

    nonisolated(unsafe) private static let ompThreadsAppliedKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()
    private static var ompThreadsApplied: Int {
        get { Int(bitPattern: pthread_getspecific(ompThreadsAppliedKey)) }
        set { pthread_setspecific(ompThreadsAppliedKey, UnsafeRawPointer(bitPattern: newValue)) }
    }

    /// `omp_set_num_threads` from libgomp, which libdnnl already loaded; looked up rather than declared so the
    /// Tensor target needs no OpenMP header.
    private static let ompSetNumThreads: (@convention(c) (Int32) -> Void)? = {
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "omp_set_num_threads") else { return nil }
        return unsafeBitCast(sym, to: (@convention(c) (Int32) -> Void).self)
    }()
}

/// Limits every kernel family (own SIMD loops, oneDNN, OpenBLAS) to `n` threads; `n <= 0` means all cores.
public func setThreads(_ n: Int) { Threading.setThreads(n) }

/// Runs `body` over `0..<count` split into at most `Threading.threads` contiguous chunks, in parallel.
/// `grain` is the smallest chunk worth a thread of its own.
@inline(__always)
func parallelFor(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
    if count <= 0 { return }
    let t = Threading.threads
    let chunks = min(t, max(1, count / max(grain, 1)))
    if chunks <= 1 { body(0..<count); return }
    DispatchQueue.concurrentPerform(iterations: chunks) { i in
        let lo = count * i / chunks, hi = count * (i + 1) / chunks
        if lo < hi { body(lo..<hi) }
    }
}
