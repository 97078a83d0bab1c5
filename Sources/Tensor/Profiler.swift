// Opt-in per-kernel timing (VQRT_PROFILE=1 or `Profiler.enabled = true`), to see where a model spends its time.
import Foundation

public enum Profiler {
    nonisolated(unsafe) public static var enabled = ProcessInfo.processInfo.environment["VQRT_PROFILE"] != nil
    private static let lock = NSLock()
    nonisolated(unsafe) private static var totals: [String: (seconds: Double, calls: Int)] = [:]

    /// Runs `body`, adding its wall time to `name` when profiling is on.
    @inline(__always)
    static func measure<T>(_ name: @autoclosure () -> String, _ body: () throws -> T) rethrows -> T {
        guard enabled else { return try body() }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let r = try body()
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        let key = name()
        lock.lock()
        let old = totals[key] ?? (0, 0)
        totals[key] = (old.seconds + dt, old.calls + 1)
        lock.unlock()
        return r
    }

    /// Accumulated (name, seconds, calls), largest first.
    public static func report() -> [(name: String, seconds: Double, calls: Int)] {
        lock.lock(); defer { lock.unlock() }
        return totals.map { ($0.key, $0.value.seconds, $0.value.calls) }.sorted { $0.seconds > $1.seconds }
    }

    public static func reset() { lock.lock(); totals = [:]; lock.unlock() }
}
