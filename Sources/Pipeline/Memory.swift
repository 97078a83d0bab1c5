// Sizes taken from input (code grids, preset sizes, batch x resolution) are checked against the memory the machine
// can give before anything is allocated: what cannot fit gets a one-line error, not an abort in an allocator.

import Foundation

public enum Memory {
    /// Bytes this process can still expect to get: the kernel's MemAvailable estimate, bounded by a cgroup limit
    /// (containers, Slurm) when one is set.
    public static func available() -> Int {
        var bytes = Int.max
        if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
           let kb = Int(line.split(separator: " ").dropFirst().first ?? "") {
            bytes = kb * 1024
        }
        for (limitFile, usageFile) in [("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                       ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")] {
            guard let limit = read(limitFile), let usage = read(usageFile), limit < Int.max / 2 else { continue }
            bytes = min(bytes, max(0, limit - usage))
        }
        return bytes
    }

    private static func read(_ path: String) -> Int? {
        (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Throws unless `bytes` (an estimate of what `what` needs) fits in the memory available; `advice` says what
    /// the user can change.
    public static func require(_ bytes: Int, for what: String, advice: String) throws {
        let free = available()
        guard bytes <= free else {
            throw PipelineError("\(what) needs about \(format(bytes)) of memory, more than the \(format(free)) available; \(advice)")
        }
    }

    /// "1.5 GB", "320 MB"
    public static func format(_ bytes: Int) -> String {
        let b = Double(bytes)
        if b >= 1e12 { return String(format: "%.1f TB", b / 1e12) }
        if b >= 1e9 { return String(format: "%.1f GB", b / 1e9) }
        return String(format: "%.0f MB", b / 1e6)
    }

    /// a·b·c... without overflow (saturating at Int.max: "more than any machine has" is the right answer then).
    public static func product(_ factors: Int...) -> Int {
        var p = 1
        for f in factors {
            let (r, o) = p.multipliedReportingOverflow(by: max(f, 0))
            if o { return Int.max }
            p = r
        }
        return p
    }

    /// a + b, saturating.
    public static func sum(_ a: Int, _ b: Int) -> Int {
        let (r, o) = a.addingReportingOverflow(b)
        return o ? Int.max : r
    }
}
