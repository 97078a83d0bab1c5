// vqrt-paper-bench: times the paper metrics' library calls for tools/bench_paper_metrics.py until the CLI commands
// (`vqrt ssim / lpips / kid`) exist; each line is "<metric> value <v> n <n> seconds <t>".
//   vqrt-paper-bench ssim A_DIR B_DIR VARIANT            SSIM of every same-named PNG pair (decode included)
//   vqrt-paper-bench lpips A_DIR B_DIR NET BACKBONE|synthetic   LPIPS of the pairs (weights loaded before timing)
//   vqrt-paper-bench kid N DIM SUBSETS SUBSET_SIZE       KID of two synthetic N x DIM float32 sets
import Foundation
import Imaging
import Metrics
import Models
import NN
import Tensor

func now() -> Double { Date().timeIntervalSince1970 }

func pairs(_ a: String, _ b: String) throws -> [(String, String)] {
    let names = try FileManager.default.contentsOfDirectory(atPath: a).filter { $0.hasSuffix(".png") }.sorted()
    return names.map { ((a as NSString).appendingPathComponent($0), (b as NSString).appendingPathComponent($0)) }
}

/// Backbone values for timing only (the arithmetic does not depend on them): contract C4 with a He gain.
final class TimingBackbone: WeightSource {
    let base: DeterministicWeightSource
    init(_ net: LPIPS.Net) { base = DeterministicWeightSource(seed: 5, tensors: LPIPSWeights.featureLayout(net)) }
    var names: [String] { base.names }
    func tensor(named name: String) throws -> (shape: [Int], values: [Float])? {
        guard var t = try base.tensor(named: name) else { return nil }
        if t.shape.count == 4 { for i in t.values.indices { t.values[i] *= 1.4142135 } }
        return t
    }
}

// As `vqrt` does: idle OpenMP threads sleep instead of spinning (see Threading.reexecWithPassiveOpenMPIfNeeded).
Threading.reexecWithPassiveOpenMPIfNeeded()
let args = CommandLine.arguments
do {
    switch args.count > 1 ? args[1] : "" {
    case "ssim" where args.count == 5:
        guard let variant = SSIMVariant(rawValue: args[4]) else { throw MetricsError.invalidArgument("variant \(args[4])") }
        let s = try StructuralSimilarity(variant: variant)
        let start = now()
        var mean = PairMean()
        for (a, b) in try pairs(args[2], args[3]) {
            try mean.add(try s(ImageDecoder.decode(path: a), ImageDecoder.decode(path: b)))
        }
        print("ssim value \(mean.mean ?? .nan) n \(mean.count) seconds \(now() - start)")
    case "lpips" where args.count == 6:
        guard let net = LPIPS.Net(rawValue: args[4]) else { throw MetricsError.invalidArgument("net \(args[4])") }
        let model: LPIPS
        if args[5] == "synthetic" {
            model = try LPIPSWeights.build(net: net, backbone: TimingBackbone(net),
                                           linear: LPIPSWeights.checkpointWeights(path: LPIPSWeights.bundledLinearPath(net)))
        } else {
            model = try LPIPSWeights.load(net: net, backbonePath: args[5])
        }
        let list = try pairs(args[2], args[3])
        // The first pair creates the oneDNN primitives; timed apart, as the PyTorch side warms up too.
        let first = now()
        _ = try model(ImageDecoder.decode(path: list[0].0), ImageDecoder.decode(path: list[0].1))
        let start = now()
        var mean = PairMean()
        for (a, b) in list { try mean.add(try model(ImageDecoder.decode(path: a), ImageDecoder.decode(path: b))) }
        print("lpips value \(mean.mean ?? .nan) n \(mean.count) seconds \(now() - start) first \(start - first)")
    case "kid" where args.count == 6:
        guard let n = Int(args[2]), let d = Int(args[3]), let subsets = Int(args[4]), let size = Int(args[5]) else {
            throw MetricsError.invalidArgument("kid N DIM SUBSETS SUBSET_SIZE")
        }
        // Post-ReLU-like synthetic features (the time does not depend on the values).
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return max(0, Float(state >> 40) / 16_777_216 - 0.3)
        }
        let a = (0..<(n * d)).map { _ in next() }, b = (0..<(n * d)).map { _ in next() * 1.1 }
        let start = now()
        let r = try KernelInceptionDistance(subsets: subsets, subsetSize: size)(a, b, dimension: d)
        print("kid value \(r.mean) std \(r.std) n \(n) seconds \(now() - start)")
    default:
        FileHandle.standardError.write("usage: vqrt-paper-bench ssim A B VARIANT | lpips A B NET BACKBONE|synthetic | kid N DIM SUBSETS SIZE\n".data(using: .utf8)!)
        exit(2)
    }
    if Profiler.enabled {
        for e in Profiler.report() { FileHandle.standardError.write("\(e.name): \(e.seconds) s, \(e.calls) calls, \(e.gflopsPerSecond) GFLOP/s\n".data(using: .utf8)!) }
    }
} catch {
    FileHandle.standardError.write("error: \(error)\n".data(using: .utf8)!)
    exit(1)
}
