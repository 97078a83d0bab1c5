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

    @Flag(help: "Print a per-layer-type time profile to stderr.")
    var profile = false

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
            _ = try loaded.model.reconstruct(x)
            if profile { Profiler.enabled = true; Profiler.reset() }
            var times: [Double] = []
            for _ in 0..<max(1, repeats) {
                let t = Clock.seconds()
                _ = try loaded.model.reconstruct(x)
                times.append(Clock.seconds() - t)
            }
            times.sort()
            let median = times[times.count / 2]
            if profile {
                for (name, seconds, calls) in Profiler.report() {
                    Console.info(String(format: "%-28@ %8.3f s  %5d calls  %5.1f%%", name as NSString, seconds / Double(times.count), calls / times.count,
                                        100 * seconds / times.reduce(0, +)))
                }
            }
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            let out: [(String, String)] = [
                ("family", "\"\(loaded.model.family.rawValue)\""), ("batch", "\(n)"), ("size", "\(side)"),
                ("load_seconds", String(format: "%.4f", loadSeconds)), ("batch_seconds_median", String(format: "%.4f", median)),
                ("images_per_second", String(format: "%.4f", Double(n) / median)), ("peak_rss_mb", String(format: "%.1f", Double(usage.ru_maxrss) / 1024)),
                ("times", "[" + times.map { String(format: "%.4f", $0) }.joined(separator: ",") + "]"),
            ]
            print("{" + out.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}")
        }
    }
}
