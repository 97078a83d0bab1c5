// `vqrt bench`: reconstruction (encode + quantize + decode) timed on synthetic inputs, what tools/bench compares
// with PyTorch: the first batch apart (it also creates oneDNN primitives and reorders weights), then the median of
// the timed repeats, and the process's peak memory.

import Foundation
import Models
import Tensor

public struct BenchmarkResult {
    public let side: Int
    public let batch: Int
    public let firstBatchSeconds: Double
    public let times: [Double]
    public var medianSeconds: Double { let t = times.sorted(); return t[t.count / 2] }
    public var imagesPerSecond: Double { Double(batch) / medianSeconds }
    /// Profiler entries of the timed repeats (when profiling), largest first.
    public let profile: [Profiler.Entry]
    /// Profiler entries of the first batch (when asked for).
    public let firstBatchProfile: [Profiler.Entry]
}

public enum Benchmark {
    /// A smooth deterministic image batch in [-1, 1]: realistic activations, reproducible codes.
    public static func syntheticInput(batch n: Int, side: Int) throws -> Tensor {
        try Tensor(shape: [n, 3, side, side]) { buf in
            for i in 0..<buf.count { buf[i] = Float(sin(Double(i % (side * side)) * 0.001 + Double(i / (side * side)))) }
        }
    }

    public static func run(_ vq: LoadedVQ, batch: Int, side: Int, repeats: Int, profile: Bool,
                           profileFirstBatch: Bool) throws -> BenchmarkResult {
        let x = try syntheticInput(batch: batch, side: side)
        if profileFirstBatch { Profiler.enabled = true; Profiler.reset() }
        let firstStart = Clock.seconds()
        _ = try vq.model.reconstruct(x)
        let first = Clock.seconds() - firstStart
        let firstProfile = profileFirstBatch ? Profiler.report() : []
        Profiler.enabled = profile
        Profiler.reset()
        var times: [Double] = []
        for _ in 0..<max(1, repeats) {
            let t = Clock.seconds()
            _ = try vq.model.reconstruct(x)
            times.append(Clock.seconds() - t)
        }
        return BenchmarkResult(side: side, batch: batch, firstBatchSeconds: first, times: times,
                               profile: profile ? Profiler.report() : [], firstBatchProfile: firstProfile)
    }

    /// Peak resident memory of this process so far, in MB.
    public static func peakResidentMB() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }
}

/// Profile entries grouped by layer type ("conv", "conv-transpose", "groupnorm", ...), per reconstruction.
public struct ProfileSummary {
    public let type: String
    public let seconds: Double
    public let share: Double
    public let flops: Double
    public var gflopsPerSecond: Double { seconds > 0 ? flops / seconds / 1e9 : 0 }

    /// The type of a profile entry: its first word, except that layout conversions around convolutions
    /// ("conv input ...", "conv output ...", "conv residual copy") are their own type, apart from the arithmetic.
    static func type(of name: String) -> String {
        let words = name.split(separator: " ")
        guard let first = words.first else { return name }
        if first.hasPrefix("conv"), words.count > 1, let c = words[1].first, !c.isNumber { return "\(first) \(words[1])" }
        return String(first)
    }

    public static func byType(_ entries: [Profiler.Entry], runs: Int, total: Double) -> [ProfileSummary] {
        var groups: [String: (Double, Double)] = [:]
        for e in entries {
            let t = type(of: e.name)
            let g = groups[t] ?? (0, 0)
            groups[t] = (g.0 + e.seconds, g.1 + e.flops)
        }
        let n = Double(max(runs, 1))
        return groups.map { ProfileSummary(type: $0.key, seconds: $0.value.0 / n, share: $0.value.0 / max(total, 1e-12),
                                           flops: $0.value.1 / n) }
            .sorted { $0.seconds > $1.seconds }
    }
}
