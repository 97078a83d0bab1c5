// OpenBLAS kernel selection. Debian's OpenBLAS (0.3.21, DYNAMIC_ARCH) picks its kernels from the CPU model number;
// CPUs newer than the library (here a 5th-generation Xeon, family 6 model 207) fall back to "Prescott", the SSE3
// kernels: a 2048² dgemm then runs 7× slower than with the AVX-512 "SkylakeX" kernels, and an FID takes seconds.
// OpenBLAS honours OPENBLAS_CORETYPE only when it initialises, so when the user has not set it and the fallback
// was taken on a CPU that has AVX-512 (or AVX2/FMA), the variable is set and OpenBLAS's dynamic kernel selection is
// run again (`gotoblas_dynamic_quit` + `gotoblas_dynamic_init`, exported by DYNAMIC_ARCH builds; looked up with
// dlsym so other builds are left alone). This happens once, before the first BLAS call of this module; vqrt makes
// no other BLAS calls (oneDNN does the network's arithmetic).
import CLAPACK
import Foundation

enum OpenBLASKernels {
    /// Evaluated once; see above.
    static let ensured: String = select()

    /// The kernel set OpenBLAS uses (e.g. "SkylakeX").
    static var coreName: String { String(cString: openblas_get_corename()) }

    private static func select() -> String {
        let current = coreName
        guard getenv("OPENBLAS_CORETYPE") == nil, current.lowercased() == "prescott",
              let flags = cpuFlags() else { return current }
        let wanted: String
        if ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"].allSatisfy(flags.contains) {
            wanted = "SkylakeX"
        } else if ["avx2", "fma"].allSatisfy(flags.contains) {
            wanted = "Haswell"
        } else {
            return current
        }
        typealias Hook = @convention(c) () -> Void
        let handle = dlopen(nil, RTLD_NOW)
        guard let quitSym = dlsym(handle, "gotoblas_dynamic_quit"), let initSym = dlsym(handle, "gotoblas_dynamic_init")
        else { return current }
        setenv("OPENBLAS_CORETYPE", wanted, 1)
        unsafeBitCast(quitSym, to: Hook.self)()
        unsafeBitCast(initSym, to: Hook.self)()
        return coreName
    }

    /// The CPU feature flags the kernel reports (Linux), or nil.
    private static func cpuFlags() -> Set<String>? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return nil }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }
}
