// `vqrt bench`: model throughput on synthetic inputs (what tools/bench compares with PyTorch), one JSON object.

import ArgumentParser
import Foundation
import Pipeline
import Tensor
import TorchFormats

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time reconstruction (encode + quantize + decode) on synthetic inputs; prints one JSON object.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var common: RunOptions

    @Option(help: "Images per batch (1-\(BatchOptions.maxBatch)).")
    var batchSize = 1

    @Option(help: "Input side in pixels (default: the model's preset size).")
    var size: Int?

    @Option(help: "Timed repeats (after one warm-up run), 1-1000.")
    var repeats = 3

    @Flag(help: "Print a per-layer time profile to stderr (with GFLOP/s of the convolutions and matrix products) and add a per-layer-type summary to the JSON.")
    var profile = false

    @Flag(help: "Also measure the machine's dense float32 GEMM peak (oneDNN sgemm / matmul) and set the convolutions against it.")
    var gemmPeak = false

    func validate() throws {
        guard (1...BatchOptions.maxBatch).contains(batchSize) else { throw ValidationError("--batch-size must be between 1 and \(BatchOptions.maxBatch), got \(batchSize)") }
        guard (1...1000).contains(repeats) else { throw ValidationError("--repeats must be between 1 and 1000, got \(repeats)") }
        if let size, !(1...16384).contains(size) { throw ValidationError("--size must be between 1 and 16384, got \(size)") }
    }

    func run() throws {
        try FileSystem.requireReadableFile(model.checkpoint)
        common.apply()
        let loadStart = Clock.seconds()
        let vq = try model.source.load()
        let loadSeconds = Clock.seconds() - loadStart
        let side = size ?? vq.preset.tensorSize?.height ?? 256
        try vq.model.checkInputSize(height: side, width: side)
        try Memory.require(Memory.product(vq.model.activationBytes(height: side, width: side), batchSize),
                           for: "a batch of \(batchSize) images of \(side)x\(side)", advice: "use a smaller --batch-size or --size")
        let r = try Benchmark.run(vq, batch: batchSize, side: side, repeats: repeats, profile: profile,
                                  profileFirstBatch: Knobs.profileFirstBatch)
        for e in r.firstBatchProfile.prefix(25) {
            Console.info(String(format: "first batch: %-50@ %8.4f s", e.name as NSString, e.seconds))
        }
        var extra: [(String, JSONValue)] = []
        if profile {
            let total = r.times.reduce(0, +)
            for e in r.profile {
                let rate = e.flops > 0 ? String(format: "  %7.1f GFLOP/s", e.gflopsPerSecond) : ""
                Console.info(String(format: "%-44@ %8.4f s  %5d calls  %5.1f%%", e.name as NSString, e.seconds / Double(r.times.count),
                                    e.calls / r.times.count, 100 * e.seconds / total) + rate)
            }
            let types = ProfileSummary.byType(r.profile, runs: r.times.count, total: total)
            Console.info("by layer type:")
            for t in types {
                Console.info(String(format: "  %-24@ %8.4f s  %5.1f%%", t.type as NSString, t.seconds, 100 * t.share)
                             + (t.flops > 0 ? String(format: "  %7.1f GFLOP/s", t.gflopsPerSecond) : ""))
            }
            extra.append(("profile", .array(types.map { .object([("type", .string($0.type)), ("seconds", .double($0.seconds)),
                                                                  ("share", .double($0.share)), ("gflops", .double($0.gflopsPerSecond))]) })))
            if gemmPeak, let conv = types.first(where: { $0.type == "conv" }) {
                let peak = try GEMMPeak.measure()
                Console.info(String(format: "GEMM peak %.1f GFLOP/s (%@); convolutions at %.0f%% of it", peak.gflopsPerSecond,
                                    peak.kernel as NSString, 100 * conv.gflopsPerSecond / peak.gflopsPerSecond))
                extra.append(("gemm_peak_gflops", .double(peak.gflopsPerSecond)))
                extra.append(("conv_share_of_gemm_peak", .double(conv.gflopsPerSecond / peak.gflopsPerSecond)))
            }
        } else if gemmPeak {
            extra.append(("gemm_peak_gflops", .double(try GEMMPeak.measure().gflopsPerSecond)))
        }
        let json: JSONValue = .object([
            ("family", .string(vq.model.family.rawValue)), ("precision", .string(model.precision.rawValue)),
            ("conv_algorithm", .string(vq.source.execution.effectiveConvolutionAlgorithm.rawValue)),
            ("batch", .int(Int64(batchSize))), ("size", .int(Int64(side))),
            ("load_seconds", .double(loadSeconds)), ("first_batch_seconds", .double(r.firstBatchSeconds)),
            ("batch_seconds_median", .double(r.medianSeconds)), ("images_per_second", .double(r.imagesPerSecond)),
            ("peak_rss_mb", .double(Benchmark.peakResidentMB())), ("times", .array(r.times.map { .double($0) })),
        ] + extra)
        print(json.render())
    }
}
