// `vqrt bench`: model throughput on synthetic inputs (what tools/bench compares with PyTorch).

import ArgumentParser
import Foundation
import Models
import Tensor

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time reconstruction (encode + quantize + decode) on synthetic inputs; prints one JSON object.")

    @OptionGroup var model: ModelOptions

    @Option(help: "Images per batch.")
    var batchSize = 1

    @Option(help: "Input side in pixels (default: the model's).")
    var size: Int?

    @Option(help: "Timed repeats (after one warm-up run).")
    var repeats = 3

    @Option(help: "Threads (default: all cores).")
    var threads: Int?

    @Flag(help: "Print a per-layer time profile to stderr (with GFLOP/s of the convolutions and matrix products) and add a per-layer-type summary to the JSON.")
    var profile = false

    @Flag(help: "Also measure the machine's dense float32 GEMM peak (oneDNN sgemm / matmul) and set the convolutions against it.")
    var gemmPeak = false

    func run() throws {
        try reportingErrors(file: model.checkpoint) {
            if let threads { Threading.setThreads(threads) }
            let loadStart = Clock.seconds()
            let loaded = try model.load()
            let loadSeconds = Clock.seconds() - loadStart
            let side = size ?? loaded.model.preset.tensorSize?.height ?? 256
            // A smooth deterministic image in [-1, 1]: realistic activations, reproducible codes.
            let n = batchSize
            let x = try Tensor(shape: [n, 3, side, side]) { buf in
                for i in 0..<buf.count { buf[i] = Float(sin(Double(i % (side * side)) * 0.001 + Double(i / (side * side)))) }
            }
            // The first run also creates oneDNN primitives (JIT code) and reorders (or Winograd-transforms) weights:
            // timed apart. VQRT_PROFILE_FIRST=1 prints its 25 most expensive entries.
            let profileFirst = ProcessInfo.processInfo.environment["VQRT_PROFILE_FIRST"] != nil
            if profileFirst { Profiler.enabled = true }
            let firstStart = Clock.seconds()
            _ = try loaded.model.reconstruct(x)
            let firstSeconds = Clock.seconds() - firstStart
            if profileFirst {
                for e in Profiler.report().prefix(25) {
                    Console.info(String(format: "first batch: %-50@ %8.4f s", e.name as NSString, e.seconds))
                }
            }
            if profile { Profiler.enabled = true; Profiler.reset() }
            var times: [Double] = []
            for _ in 0..<max(1, repeats) {
                let t = Clock.seconds()
                _ = try loaded.model.reconstruct(x)
                times.append(Clock.seconds() - t)
            }
            times.sort()
            let median = times[times.count / 2]
            var out: [(String, String)] = []
            if profile {
                let entries = Profiler.report()
                let total = times.reduce(0, +)
                for e in entries {
                    let rate = e.flops > 0 ? String(format: "  %7.1f GFLOP/s", e.gflopsPerSecond) : ""
                    Console.info(String(format: "%-44@ %8.4f s  %5d calls  %5.1f%%", e.name as NSString, e.seconds / Double(times.count),
                                        e.calls / times.count, 100 * e.seconds / total) + rate)
                }
                let types = ProfileSummary.byType(entries, runs: times.count, total: total)
                Console.info("by layer type:")
                for t in types { Console.info(t.line) }
                out.append(("profile", "[" + types.map(\.json).joined(separator: ",") + "]"))
                if gemmPeak, let conv = types.first(where: { $0.type == "conv" }) {
                    let peak = try GEMMPeak.measure()
                    Console.info(String(format: "GEMM peak %.1f GFLOP/s (%@); convolutions at %.0f%% of it", peak.gflopsPerSecond,
                                        peak.kernel as NSString, 100 * conv.gflopsPerSecond / peak.gflopsPerSecond))
                    out.append(("gemm_peak_gflops", String(format: "%.2f", peak.gflopsPerSecond)))
                    out.append(("conv_share_of_gemm_peak", String(format: "%.4f", conv.gflopsPerSecond / peak.gflopsPerSecond)))
                }
            } else if gemmPeak {
                let peak = try GEMMPeak.measure()
                out.append(("gemm_peak_gflops", String(format: "%.2f", peak.gflopsPerSecond)))
            }
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            out = [
                ("family", "\"\(loaded.model.family.rawValue)\""), ("precision", "\"\(model.precision)\""),
                ("batch", "\(n)"), ("size", "\(side)"),
                ("load_seconds", String(format: "%.4f", loadSeconds)), ("first_batch_seconds", String(format: "%.4f", firstSeconds)), ("batch_seconds_median", String(format: "%.4f", median)),
                ("images_per_second", String(format: "%.4f", Double(n) / median)), ("peak_rss_mb", String(format: "%.1f", Double(usage.ru_maxrss) / 1024)),
                ("times", "[" + times.map { String(format: "%.4f", $0) }.joined(separator: ",") + "]"),
            ] + out
            print("{" + out.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}")
        }
    }
}

/// Profile entries grouped by layer type ("conv", "conv-transpose", "groupnorm", ...), per reconstruction.
struct ProfileSummary {
    let type: String
    let seconds: Double
    let share: Double
    let flops: Double
    var gflopsPerSecond: Double { seconds > 0 ? flops / seconds / 1e9 : 0 }

    /// The type of a profile entry: its first word, except that layout conversions around convolutions
    /// ("conv input ...", "conv output ...", "conv residual copy") are their own type, apart from the arithmetic.
    static func type(of name: String) -> String {
        let words = name.split(separator: " ")
        guard let first = words.first else { return name }
        if first.hasPrefix("conv"), words.count > 1, let c = words[1].first, !c.isNumber { return "\(first) \(words[1])" }
        return String(first)
    }

    static func byType(_ entries: [Profiler.Entry], runs: Int, total: Double) -> [ProfileSummary] {
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

    var line: String {
        String(format: "  %-24@ %8.4f s  %5.1f%%", type as NSString, seconds, 100 * share)
            + (flops > 0 ? String(format: "  %7.1f GFLOP/s", gflopsPerSecond) : "")
    }

    var json: String {
        String(format: "{\"type\":\"%@\",\"seconds\":%.5f,\"share\":%.4f,\"gflops\":%.2f}", type as NSString, seconds, share,
               gflopsPerSecond)
    }
}
