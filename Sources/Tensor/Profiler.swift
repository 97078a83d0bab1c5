// Opt-in per-kernel timing (`Profiler.enabled = true`: `vqrt bench --profile`, or VQRT_PROFILE=1 for any command),
// to see where a model spends its time. Timing changes no result, so this diagnostic switch is process-wide.
// Kernels that do dense arithmetic also report their floating-point operations (multiply and add counted
// separately, as GEMM peaks are quoted), so the profile can set achieved GFLOP/s against the machine's peak.
import Foundation

public enum Profiler {
    nonisolated(unsafe) public static var enabled = false
    private static let lock = NSLock()
    nonisolated(unsafe) private static var totals: [String: Entry] = [:]

    public struct Entry: Sendable {
        public var name: String
        public var seconds: Double
        public var calls: Int
        /// Floating-point operations done in those calls (0 for kernels that are not counted).
        public var flops: Double
        public var gflopsPerSecond: Double { seconds > 0 ? flops / seconds / 1e9 : 0 }
    }

    /// Runs `body`, adding its wall time (and `flops`) to `name` when profiling is on.
    @inline(__always)
    static func measure<T>(_ name: @autoclosure () -> String, flops: @autoclosure () -> Double = 0,
                           _ body: () throws -> T) rethrows -> T {
        guard enabled else { return try body() }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let r = try body()
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        let key = name()
        let f = flops()
        lock.lock()
        var e = totals[key] ?? Entry(name: key, seconds: 0, calls: 0, flops: 0)
        e.seconds += dt
        e.calls += 1
        e.flops += f
        totals[key] = e
        lock.unlock()
        return r
    }

    /// Accumulated entries, largest time first.
    public static func report() -> [Entry] {
        lock.lock(); defer { lock.unlock() }
        return totals.values.sorted { $0.seconds > $1.seconds }
    }

    public static func reset() { lock.lock(); totals = [:]; lock.unlock() }
}
