// Every model fixture (Fixtures/models/<case>, contract C5) against PyTorch on the same weights and inputs, on
// every convolution path: codes identical except where PyTorch's own float64 best and second-best scores are
// within 1e-5; latents and decoder outputs within `factor` (4) times PyTorch's own float32-vs-float64 error on
// this kind of CPU, measured against float64; 8-bit reconstructions equal to PyTorch's except at rounding
// boundaries. Small cases carry their checkpoints in the real upstream containers; full-size ones regenerate their
// weights with vqrt-rng v1 (the same generator tools/vqrt_rng.py implements). Each family's cases are large enough
// that every 3x3 convolution of the family runs Winograd in at least one case, and the test checks that it did.

import Foundation
import TestSupport
import Models
import NN
import NPY
import Tensor
import TorchFormats
import XCTest

final class ConformanceTests: XCTestCase {
    static let root = PackagePaths.fixtures("models")

    func cases(family: String) throws -> [URL] {
        try FileManager.default.contentsOfDirectory(at: Self.root, includingPropertiesForKeys: nil)
            .filter { FileManager.default.fileExists(atPath: $0.appendingPathComponent("case.json").path) }
            .filter { (try? Self.spec($0))?["family"] as? String == family }
            .sorted { $0.path < $1.path }
    }

    static func spec(_ dir: URL) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("case.json"))) as? [String: Any])
    }

    func testLatentDiffusionVQGAN() throws { try checkFamily("ldm-vqgan", atLeast: 3, hasWinogradLayers: true) }
    func testRotationTrickVQVAE() throws { try checkFamily("rt-vqvae", atLeast: 5, hasWinogradLayers: true) }
    // ViT-VQGAN's only convolutions are its patch embedding and output projection (kernel = stride = patch size).
    func testViTVQGAN() throws { try checkFamily("vit-vqgan", atLeast: 2, hasWinogradLayers: false) }

    /// Runs every case of `family` on every convolution path, then checks that each 3x3 stride-1 convolution the
    /// family has (by channel counts) ran a Winograd kernel in at least one case on each Winograd path.
    func checkFamily(_ family: String, atLeast count: Int, hasWinogradLayers: Bool) throws {
        let dirs = try cases(family: family)
        XCTAssertGreaterThanOrEqual(dirs.count, count, "\(family): fixture cases")
        var plans: [ConvolutionPath: Set<ConvolutionKernel.PlanRecord>] = [:]
        for path in ConvolutionPath.available {
            print("\(family): convolution path \(path.rawValue)")
            for dir in dirs {
                let (_, made) = try withConvolutionPath(path) { try ConvolutionKernel.recordingPlans { try check(dir, path) } }
                plans[path, default: []].formUnion(made)
            }
        }
        let all = plans.values.reduce(into: Set<ConvolutionKernel.PlanRecord>()) { $0.formUnion($1) }
        let isWinograd = { (r: ConvolutionKernel.PlanRecord) in r.implementation.contains("wino") }
        XCTAssertFalse(plans[.direct, default: []].contains(where: isWinograd),
                       "\(family): the direct path ran Winograd: \(plans[.direct, default: []].filter(isWinograd))")
        for path in ConvolutionPath.available where path != .direct {
            // On the own-Winograd path only vqrt's kernel counts (oneDNN's may still take the 3-channel layers).
            let own = path == .ownWinograd || !ConvolutionKernel.winogradAvailable
            let ranOn = plans[path, default: []].filter { own ? $0.implementation == ConvolutionKernel.ownWinogradName : isWinograd($0) }
            let ran = Set(ranOn.map { ChannelPair($0) })
            let needed = Set(all.filter { path.winogradSuits($0, own: own) }.map { ChannelPair($0) })
            XCTAssertEqual(needed.isEmpty, !hasWinogradLayers, "\(family): 3x3 convolutions Winograd suits: \(needed.sorted())")
            XCTAssertTrue(needed.isSubset(of: ran), "\(family) \(path.rawValue): these 3x3 convolutions never ran Winograd in any case: \(needed.subtracting(ran).sorted())")
            if own {
                // vqrt's own kernel ran on layers whose kernels it transforms on every call too (above
                // winogradMaximumChannelProduct, e.g. 512->512).
                if hasWinogradLayers {
                    XCTAssertTrue(ran.contains { $0.inChannels * $0.outChannels > ExecutionConfig.default.winogradMaximumChannelProduct },
                                  "\(family): no layer with kernels transformed per call ran vqrt's own Winograd: \(ran.sorted())")
                }
            }
            print("\(family) \(path.rawValue): Winograd ran on \(ran.sorted().map(\.description).joined(separator: ", "))")
        }
    }

    /// The settings the models of `check` are built with (set by withConvolutionPath).
    var execution = ExecutionConfig.default

    // MARK: - One case

    func check(_ dir: URL, _ path: ConvolutionPath) throws {
        let name = "\(dir.lastPathComponent) [\(path.rawValue)]"
        let spec = try Self.spec(dir)
        let model = try build(spec, dir)
        func npy(_ n: String) throws -> NPYArray { try NPY.read(path: dir.appendingPathComponent(n).path) }
        let input = try npy("input.npy")
        let x = try Tensor(shape: input.shape, values: try input.floats())
        let tol = try XCTUnwrap(spec["tolerances"] as? [String: Any])
        let factor = try XCTUnwrap(tol["factor"] as? Double, "\(name): tolerances.factor")
        // A case without a record for this CPU kind still runs (its codes and Winograd coverage are checked), but
        // the test has failed.
        let torch = torchErrors(tol, name)

        let enc = try model.encode(x)
        // Latents against PyTorch float64.
        let lat64 = try npy("latents64.npy")
        XCTAssertEqual(enc.latents.shape, lat64.shape, "\(name): latent shape")
        let latErr = maxAbs(enc.latents.plain().toArray(), try lat64.doubles())
        let latTol = factor * (torch?["latents_f32_vs_f64_maxabs"] ?? .nan)
        if torch != nil { XCTAssertLessThanOrEqual(latErr, latTol, "\(name): latents differ from float64 by \(latErr) (PyTorch float32 on \(Self.kind): \(latTol / factor))") }

        // Codes: identical wherever the float64 decision is not a near tie.
        let codes = try npy("codes.npy").int64s()
        let margin = try npy("code_margin.npy").doubles()
        XCTAssertEqual(enc.codes.count, codes.count, "\(name): code count")
        var mismatches = 0, decided = 0
        for i in 0..<min(codes.count, enc.codes.count) where margin[i] >= 1e-5 {
            decided += 1
            if Int64(enc.codes[i]) != codes[i] { mismatches += 1 }
        }
        XCTAssertEqual(mismatches, 0, "\(name): \(mismatches) of \(decided) clearly decided codes differ")
        XCTAssertGreaterThan(decided, codes.count / 2, "\(name): too few decided codes for a meaningful check")
        XCTAssertGreaterThan(Set(codes).count, 1, "\(name): the fixture uses a single code")

        // Decoder output from PyTorch's codes, against float64 decoding of the same codes.
        let y = try model.decode(codes: codes.map { Int($0) }, shape: enc.codeShape)
        let rec64 = try npy("recon64.npy")
        XCTAssertEqual(y.shape, rec64.shape, "\(name): output shape")
        let ours = y.plain().toArray()
        let recErr = maxAbs(ours, try rec64.doubles())
        let recTol = factor * (torch?["recon_f32_vs_f64_maxabs"] ?? .nan)
        guard torch != nil else { return }
        XCTAssertLessThanOrEqual(recErr, recTol, "\(name): reconstruction differs from float64 by \(recErr) (PyTorch float32 on \(Self.kind): \(recTol / factor))")

        // 8-bit images: equal to PyTorch's (recon.npy, its float32 decoding) except where PyTorch's value lies
        // within the two outputs' possible distance of a rounding boundary: ours is within recTol of float64, the
        // stored float32 within its own recorded error, so they differ by at most δ = recTol + that error, and the
        // mapping is monotone: ours must lie in [pixels(v - δ), pixels(v + δ)].
        let theirs = try npy("recon.npy").floats()
        XCTAssertEqual(theirs.count, ours.count, "\(name): recon.npy size")
        let delta = Float(recTol + (try XCTUnwrap(tol["recon_npy_f32_vs_f64_maxabs"] as? Double, "\(name): recon.npy's error")))
        let n = y.shape[0], h = y.shape[2], w = y.shape[3], plane = 3 * h * w
        var differing = 0, outside = 0
        for k in 0..<n where theirs.count == ours.count {
            let t = Array(theirs[(k * plane)..<((k + 1) * plane)])
            let a = try model.preset.pixels(chw: Array(ours[(k * plane)..<((k + 1) * plane)]), width: w, height: h).pixels
            let b = try model.preset.pixels(chw: t, width: w, height: h).pixels
            let lo = try model.preset.pixels(chw: t.map { $0 - delta }, width: w, height: h).pixels
            let hi = try model.preset.pixels(chw: t.map { $0 + delta }, width: w, height: h).pixels
            for i in a.indices where a[i] != b[i] {
                differing += 1
                if a[i] < min(lo[i], hi[i]) || a[i] > max(lo[i], hi[i]) { outside += 1 }
            }
        }
        XCTAssertEqual(outside, 0, "\(name): \(outside) 8-bit pixels differ from PyTorch's beyond a rounding boundary")
        print("\(name): latents \(latErr) (\(String(format: "%.2f", latErr / (latTol / factor)))x PyTorch's), recon \(recErr) (\(String(format: "%.2f", recErr / (recTol / factor)))x), codes \(decided - mismatches)/\(decided) decided equal, 8-bit pixels at a rounding boundary \(differing)/\(n * plane)")
    }

    // MARK: - Tolerances per CPU kind

    static let kind = CPUKind.current.map(\.rawValue) ?? "unknown (oneDNN ISA \(CPUKind.effectiveISA))"

    /// PyTorch's own float32 errors for this case on this kind of CPU (tolerances.by_cpu[kind], the larger of its
    /// contiguous and channels_last runs). Another kind's numbers make the bound looser (AVX2's errors are up to
    /// 5.5x AVX-512's) or falsely tight, so a kind with no record is a gap in the fixtures: the case is still
    /// checked, against the largest error recorded on any kind (an upper bound only), and says so loudly. Records
    /// are made with `tools/make_model_fixtures.py --record-cpu-errors` on a machine of that kind.
    func torchErrors(_ tol: [String: Any], _ name: String) -> [String: Double]? {
        let byCPU = (tol["by_cpu"] as? [String: [String: Any]] ?? [:]).mapValues { $0.compactMapValues { $0 as? Double } }
        if let entry = byCPU[Self.kind] { return entry }
        guard !byCPU.isEmpty else {
            XCTFail("\(name): no PyTorch float32 error recorded for any CPU kind")
            return nil
        }
        print("warning: \(name): no PyTorch float32 error recorded for this CPU kind (\(Self.kind)); checking against the largest recorded on \(byCPU.keys.sorted()). Record it: `tools/make_model_fixtures.py --record-cpu-errors` (Fixtures/models/README.md).")
        return byCPU.values.reduce(into: [String: Double]()) { acc, e in acc.merge(e) { max($0, $1) } }
    }

    // MARK: - Convolution paths

    /// The ways 3x3 convolutions are computed: direct (PyTorch's algorithm), Winograd (oneDNN's on AVX-512, vqrt's
    /// own F(4x4,3x3) where oneDNN has none, e.g. AVX2), and vqrt's own Winograd forced where oneDNN has its own
    /// (so that vqrt's kernel is checked on AVX-512 CPUs too).
    enum ConvolutionPath: String, Hashable {
        case direct, winograd, ownWinograd

        static var available: [ConvolutionPath] {
            ConvolutionKernel.winogradAvailable ? [.direct, .winograd, .ownWinograd] : [.direct, .winograd]
        }

        /// Whether a Winograd kernel exists for this plan's convolution (at >= 64x64 outputs): 3x3 stride 1; vqrt's
        /// own needs >= 16 channels in and out (whole 16-channel blocks), oneDNN's takes whole 16-channel blocks up
        /// to winogradMaximumChannelProduct.
        func winogradSuits(_ r: ConvolutionKernel.PlanRecord, own: Bool) -> Bool {
            guard !r.transposed, r.kernelHeight == 3, r.kernelWidth == 3, r.strideHeight == 1, r.strideWidth == 1 else { return false }
            if own { return r.inChannels >= 16 && r.outChannels >= 16 }
            return r.inChannels % 16 == 0 && r.outChannels % 16 == 0
                && r.inChannels * r.outChannels <= ExecutionConfig.default.winogradMaximumChannelProduct
        }
    }

    /// The one place that chooses how models built inside `body` compute their convolutions.
    func withConvolutionPath<T>(_ path: ConvolutionPath, _ body: () throws -> T) rethrows -> T {
        defer { execution = .default }
        execution = ExecutionConfig(convolutionAlgorithm: path == .direct ? .direct : .winograd,
                                    ownWinogradEverywhere: path == .ownWinograd)
        return try body()
    }

    struct ChannelPair: Hashable, Comparable, CustomStringConvertible {
        let inChannels: Int, outChannels: Int
        init(_ r: ConvolutionKernel.PlanRecord) { inChannels = r.inChannels; outChannels = r.outChannels }
        static func < (a: Self, b: Self) -> Bool { (a.inChannels, a.outChannels) < (b.inChannels, b.outChannels) }
        var description: String { "\(inChannels)->\(outChannels)" }
    }

    // MARK: - Models

    func build(_ spec: [String: Any], _ dir: URL) throws -> VQModel {
        if let file = spec["weights"] as? String {
            let yaml = dir.appendingPathComponent("config.yaml").path
            let loaded = try ModelLoader.load(path: dir.appendingPathComponent(file).path,
                                              configPath: FileManager.default.fileExists(atPath: yaml) ? yaml : nil,
                                              execution: execution)
            XCTAssertEqual(loaded.model.family.rawValue, spec["family"] as? String)
            return loaded.model
        }
        let gen = try XCTUnwrap(spec["weights"] as? [String: Any])
        var overrides: [String: (shape: [Int], values: [Float])] = [:]
        for (k, v) in gen["overrides"] as? [String: [String: Any]] ?? [:] {
            let values = (v["values"] as? [Double] ?? []).map { Float($0) }
            overrides[k] = (v["shape"] as? [Int] ?? [values.count], values)
        }
        let source = GeneratedWeightSource(seed: UInt64(try XCTUnwrap(gen["seed"] as? Int)), overrides: overrides)
        let w = WeightLoader(source, execution: execution).root
        let config = try XCTUnwrap(spec["config"] as? [String: Any])
        switch spec["family"] as? String {
        case "ldm-vqgan":
            return try LDMVQGAN(w, config: try taming(config), nEmbed: config["n_embed"] as! Int, embedDim: config["embed_dim"] as! Int)
        case "rt-vqvae":
            return try RTVQVAE(w, config: try taming(config), embedDim: config["embed_dim"] as! Int,
                               codebookSize: config["n_embed"] as! Int, cosine: config["codebook"] as? String == "cosine")
        case "vit-vqgan":
            var c = ViTVQConfig()
            c.imageSize = config["image_size"] as! Int
            c.patchSize = config["patch_size"] as! Int
            func part(_ p: [String: Any]) -> ViTVQConfig.Part {
                ViTVQConfig.Part(dim: p["dim"] as! Int, depth: p["depth"] as! Int, heads: p["heads"] as! Int,
                                 mlpDim: p["mlp_dim"] as! Int, dimHead: p["dim_head"] as? Int ?? 64)
            }
            c.encoder = part(config["encoder"] as! [String: Any])
            c.decoder = part(config["decoder"] as! [String: Any])
            let q = config["quantizer"] as! [String: Any]
            c.embedDim = q["embed_dim"] as! Int
            c.nEmbed = q["n_embed"] as! Int
            return try ViTVQGAN(w, config: c)
        default:
            throw ModelError.unknownFamily("case family \(spec["family"] ?? "?")")
        }
    }

    func taming(_ config: [String: Any]) throws -> TamingConfig {
        let dd = try XCTUnwrap(config["ddconfig"] as? [String: Any])
        return TamingConfig(ch: dd["ch"] as! Int, outCh: dd["out_ch"] as? Int ?? 3, chMult: dd["ch_mult"] as! [Int],
                            numResBlocks: dd["num_res_blocks"] as! Int, attnResolutions: dd["attn_resolutions"] as? [Int] ?? [],
                            inChannels: dd["in_channels"] as? Int ?? 3, resolution: dd["resolution"] as? Int ?? 256,
                            zChannels: dd["z_channels"] as! Int, doubleZ: false,
                            attnType: (dd["attn_type"] as? String).flatMap(TamingAttention.init(rawValue:)) ?? .vanilla)
    }

    func maxAbs(_ a: [Float], _ b: [Double]) -> Double {
        guard a.count == b.count else { return .infinity }
        var m = 0.0
        for i in a.indices { let d = abs(Double(a[i]) - b[i]); if !(d <= m) { m = d.isNaN ? .infinity : d } }
        return m
    }
}
