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

    /// Runs `body` with OpenMP (and so oneDNN) limited to the calling thread: for work the caller splits over the
    /// threads itself, which must not be split again inside (BlockedMatmul.swift).
    static func onOneOpenMPThread<T>(_ body: () throws -> T) rethrows -> T {
        guard let set = ompSetNumThreads else { return try body() }
        let previous = ompThreadsApplied
        set(1)
        ompThreadsApplied = 1
        defer {
            if previous > 0 { set(Int32(previous)) }
            ompThreadsApplied = previous
        }
        return try body()
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
    withoutActuallyEscaping(body) { body in
        OpenMPTeam.run(chunks: chunks) { i in
            let lo = count * i / chunks, hi = count * (i + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
    }
}

extension Threading {
    /// Makes OpenMP threads sleep instead of spin when idle, by re-executing the program once with
    /// OMP_WAIT_POLICY=PASSIVE unless the environment already sets OMP_WAIT_POLICY or GOMP_SPINCOUNT. libgomp reads
    /// these only when it is loaded, before `main`, hence the re-exec. Spinning OpenMP threads (by default for
    /// milliseconds after every oneDNN call) take the cores from everything else; on a shared two-core machine the
    /// taming encoder/decoder ran 1.5-2× faster passive. Call it first thing in `main`, before any thread starts;
    /// it returns normally if nothing needed doing or the re-exec failed.
    public static func reexecWithPassiveOpenMPIfNeeded() {
        let env = ProcessInfo.processInfo.environment
        if env["OMP_WAIT_POLICY"] != nil || env["GOMP_SPINCOUNT"] != nil { return }
        setenv("OMP_WAIT_POLICY", "PASSIVE", 1)
        var argv: [UnsafeMutablePointer<CChar>?] = CommandLine.arguments.map { strdup($0) }
        argv.append(nil)
        execv("/proc/self/exe", &argv)
        // Only reached if execv failed: carry on with active OpenMP waiting.
        for p in argv { free(p) }
    }

    /// Runs `body(i)` for every i in 0..<chunks in parallel on the kernels' worker threads (the OpenMP team that
    /// oneDNN uses), for callers outside Tensor that want to share it.
    public static func parallelChunks(_ chunks: Int, _ body: (Int) -> Void) {
        if chunks <= 0 { return }
        if chunks == 1 { body(0); return }
        withoutActuallyEscaping(body) { OpenMPTeam.run(chunks: chunks, $0) }
    }
}

/// Our own kernels run on libgomp's thread team, the one oneDNN runs on, rather than on a second pool.
///
/// After each parallel region, idle OpenMP threads keep spinning for a while (GOMP_SPINCOUNT, by default 300 000
/// PAUSE iterations: milliseconds on recent Xeons) before they sleep. Work handed to another pool in that window
/// (GroupNorm right after a convolution, say) has to share the cores with the spinners; on two cores that made
/// a taming decoder about 1.7× slower. On the same team, the spinning threads instead pick the work up at once.
/// Entry points come from libgomp's stable GCC ABI (`GOMP_parallel`, since GCC 4.9), looked up at run time; if
/// they are missing (a oneDNN built without OpenMP), Dispatch is used instead.
enum OpenMPTeam {
    typealias Outlined = @convention(c) (UnsafeMutableRawPointer?) -> Void
    typealias GOMPParallel = @convention(c) (Outlined, UnsafeMutableRawPointer?, UInt32, UInt32) -> Void
    typealias IntGetter = @convention(c) () -> Int32

    struct Entry {
        let parallel: GOMPParallel
        let threadNum: IntGetter
        let numThreads: IntGetter
    }

    static let entry: Entry? = {
        let handle = UnsafeMutableRawPointer(bitPattern: 0)
        guard let p = dlsym(handle, "GOMP_parallel"), let tn = dlsym(handle, "omp_get_thread_num"),
              let nt = dlsym(handle, "omp_get_num_threads") else { return nil }
        return Entry(parallel: unsafeBitCast(p, to: GOMPParallel.self), threadNum: unsafeBitCast(tn, to: IntGetter.self),
                     numThreads: unsafeBitCast(nt, to: IntGetter.self))
    }()

    /// What each team member needs: the chunk count and the body.
    final class Job {
        let chunks: Int
        let body: (Int) -> Void
        init(chunks: Int, body: @escaping (Int) -> Void) { self.chunks = chunks; self.body = body }
    }

    static func run(chunks: Int, _ body: @escaping (Int) -> Void) {
        guard let e = entry else {
            DispatchQueue.concurrentPerform(iterations: chunks, execute: body)
            return
        }
        Threading.applyToOpenMP()
        let job = Job(chunks: chunks, body: body)
        let ctx = Unmanaged.passRetained(job)
        defer { ctx.release() }
        e.parallel({ raw in
            guard let raw, let e = OpenMPTeam.entry else { return }
            let job = Unmanaged<Job>.fromOpaque(raw).takeUnretainedValue()
            // The team may be smaller than asked for; members then take several chunks each.
            let me = Int(e.threadNum()), team = max(1, Int(e.numThreads()))
            var i = me
            while i < job.chunks {
                job.body(i)
                i += team
            }
        }, ctx.toOpaque(), UInt32(chunks), 0)
    }
}
