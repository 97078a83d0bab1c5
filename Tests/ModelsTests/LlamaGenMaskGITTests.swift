// llamagen-vq and maskgit-vqgan beyond the numeric conformance cases (ConformanceTests runs those): detection from
// the released containers, LlamaGen's `ema` preference and config.json, the key sets of the released architectures
// against the upstream state dicts (counts recorded by tools/make_upstream_model_fixtures.py), and one-line errors
// naming a key when a checkpoint is forced into another family.

import Foundation
import Models
import NN
import NPY
import Tensor
import TorchFormats
import XCTest

final class LlamaGenMaskGITTests: XCTestCase {
    static let root = ConformanceTests.root

    func path(_ rel: String) -> String { Self.root.appendingPathComponent(rel).path }

    func spec(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: Self.root.appendingPathComponent("\(name)/case.json"))
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func testDetectionFromTheReleasedContainers() throws {
        let cases: [(String, ModelFamily, String)] = [
            ("llamagen-small/0025000.pt", .llamagenVQ, "ema"),
            ("llamagen-hf-small/model.safetensors", .llamagenVQ, "<root>"),
            ("maskgit-small/maskgit-vqgan-small.bin", .maskgitVQGAN, "<root>"),
            ("maskgit-hf-small/model.safetensors", .maskgitVQGAN, "<root>"),
        ]
        for (file, family, source) in cases {
            let loaded = try ModelLoader.load(path: path(file))
            XCTAssertEqual(loaded.model.family, family, file)
            XCTAssertEqual(loaded.stateDict.source, source, file)
            if family == .llamagenVQ {
                XCTAssertEqual(loaded.ignoredKeys, ["quantize.codebook_used"], file)
            } else {
                XCTAssertEqual(loaded.ignoredKeys, [], file)
            }
        }
        // `inspect`'s detection (the same ModelFamily.detect) agrees.
        for (file, family) in [("llamagen-small/0025000.pt", ModelFamily.llamagenVQ), ("maskgit-small/maskgit-vqgan-small.bin", .maskgitVQGAN)] {
            let ckpt = try Checkpoint.open(path: path(file))
            XCTAssertEqual(ModelFamily.detect(try ckpt.stateDict()), family, file)
        }
        // The latent-diffusion VQGAN is still ldm-vqgan (LlamaGen also has quantize.embedding and quant_conv).
        XCTAssertEqual(try ModelLoader.load(path: path("ldm-small/model.ckpt")).model.family, .ldmVQGAN)
    }

    func hyper(_ loaded: LoadedModel, _ key: String) -> String? {
        loaded.configuration.hyperparameters.first { $0.0 == key }?.1.render()
    }

    func testLlamaGenHyperParametersFromWeightsArgsAndConfig() throws {
        let pt = try ModelLoader.load(path: path("llamagen-small/0025000.pt"))
        XCTAssertEqual(hyper(pt, "encoder_ch_mult"), "[1,1]")
        XCTAssertEqual(hyper(pt, "codebook_l2_norm"), "true")
        XCTAssertEqual(hyper(pt, "ema_weights"), "true")
        XCTAssertTrue(pt.configuration.usesEMAWeights)
        // config.json beside model.safetensors turns the l2 normalisation off (the weights cannot tell).
        let hf = try ModelLoader.load(path: path("llamagen-hf-small/model.safetensors"))
        XCTAssertEqual(hyper(hf, "codebook_l2_norm"), "false")
        XCTAssertEqual(hyper(hf, "ema_weights"), "false")
        // Stated sizes must agree with the weights.
        let ckpt = try Checkpoint.open(path: path("llamagen-hf-small/model.safetensors"))
        let sd = try ckpt.stateDict()
        var stated = UpstreamConfig.HuggingFaceConfig()
        stated.codebookSize = 16384
        XCTAssertThrowsError(try ModelConfiguration.derive(sd, checkpoint: ckpt, yaml: UpstreamConfig(huggingFace: stated))) { e in
            XCTAssertTrue("\(e)".contains("codebook_size"), "\(e)")
        }
        stated.codebookSize = 64
        stated.encoderChMult = [1, 1]
        guard case .llamagenVQ(let a, _) = try ModelConfiguration.derive(sd, checkpoint: ckpt, yaml: UpstreamConfig(huggingFace: stated)) else {
            return XCTFail("not llamagen-vq")
        }
        XCTAssertEqual(a.codebookSize, 64)
        XCTAssertNil(a.upstreamName)
        XCTAssertEqual(LlamaGenArgs.vq(16).upstreamName, "VQ-16")
        XCTAssertEqual(LlamaGenArgs.vq(8).upstreamName, "VQ-8")
        // A config.json whose codebook_l2_norm is not a boolean names the key.
        let bad = FileManager.default.temporaryDirectory.appendingPathComponent("vqrt-llamagen-bad-config.json")
        try #"{"codebook_l2_norm": "yes"}"#.write(to: bad, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: bad) }
        XCTAssertThrowsError(try ModelLoader.load(path: path("llamagen-hf-small/model.safetensors"), configPath: bad.path)) { e in
            XCTAssertTrue("\(e)".contains("codebook_l2_norm"), "\(e)")
        }
    }

    /// upstream's evaluation reads `ema` before `model`; the fixture's `model` entry holds other weights, so
    /// reading it instead changes the latents far beyond the float tolerance.
    func testLlamaGenEvaluatesTheEMAWeights() throws {
        let ckpt = try Checkpoint.open(path: path("llamagen-small/0025000.pt"))
        let generic = try ckpt.stateDict()
        XCTAssertEqual(generic.source, "model")
        XCTAssertEqual(try ckpt.stateDict(preferring: ModelFamily.llamagenVQ.stateDictPreference).source, "ema")
        let input = try NPY.read(path: path("llamagen-small/input.npy"))
        let x = try Tensor(shape: input.shape, values: try input.floats())
        let lat64 = try NPY.read(path: path("llamagen-small/latents64.npy")).doubles()
        guard case .llamagenVQ(let args, let ema) = try ModelConfiguration.derive(generic, checkpoint: ckpt) else { return XCTFail("not llamagen-vq") }
        XCTAssertFalse(ema)
        let fromModel = try LlamaGenVQ(WeightLoader(StateDictWeightSource(generic)).root, args: args)
        let latents = try fromModel.encode(x).latents.toArray()
        let diff = zip(latents, lat64).map { abs(Double($0) - $1) }.max() ?? 0
        XCTAssertGreaterThan(diff, 1e-3, "the model entry should not reproduce the ema outputs")
    }

    /// The released architectures ask for exactly the upstream state dict's keys (less the unused usage buffer).
    func testReleasedArchitecturesUseTheUpstreamKeys() throws {
        for name in ["llamagen-full-vq16", "llamagen-full-vq8", "maskgit-full-f16"] {
            let s = try spec(name)
            let sdInfo = try XCTUnwrap(s["state_dict"] as? [String: Any])
            let source = GeneratedWeightSource(seed: 1)
            let config = try XCTUnwrap(s["config"] as? [String: Any])
            if s["family"] as? String == "llamagen-vq" {
                let a = LlamaGenArgs.vq(config["encoder_ch_mult"] as? [Int] == [1, 2, 2, 4] ? 8 : 16)
                _ = try LlamaGenVQ(WeightLoader(source).root, args: a)
            } else {
                _ = try MaskGITVQGAN(WeightLoader(source).root, config: MaskGIT.Config())
            }
            let unused = (sdInfo["unused_by_inference"] as? [String]) ?? []
            XCTAssertEqual(source.names.count + unused.count, sdInfo["keys"] as? Int, name)
            XCTAssertFalse(source.names.contains { unused.contains($0) }, name)
        }
    }

    /// A checkpoint forced into another family: a one-line error that names the first missing or mis-shaped key.
    func testForcedFamilyGivesAOneLineErrorNamingAKey() throws {
        let files: [(String, ModelFamily)] = [
            ("llamagen-small/0025000.pt", .llamagenVQ), ("maskgit-small/maskgit-vqgan-small.bin", .maskgitVQGAN),
            ("ldm-small/model.ckpt", .ldmVQGAN), ("vit-small/last.ckpt", .vitVQGAN), ("rt-small-cosine/20_model.pth", .rtVQVAE),
        ]
        for (file, own) in files {
            for forced in [ModelFamily.llamagenVQ, .maskgitVQGAN, .ldmVQGAN] where forced != own {
                XCTAssertThrowsError(try ModelLoader.load(path: path(file), family: forced), "\(file) as \(forced)") { e in
                    let message = "\(e)"
                    XCTAssertFalse(message.contains("\n"), "\(file) as \(forced): \(message)")
                    XCTAssertTrue(message.range(of: #"weight '[^']+'"#, options: .regularExpression) != nil,
                                  "\(file) as \(forced.rawValue): no key named in '\(message)'")
                }
            }
        }
    }

    func testMaskGITConfigFromWeightsAndConfigJSON() throws {
        let ckpt = try Checkpoint.open(path: path("maskgit-hf-small/model.safetensors"))
        let sd = try ckpt.stateDict()
        func config(_ stated: UpstreamConfig.HuggingFaceConfig?) throws -> MaskGIT.Config {
            guard case .maskgitVQGAN(let c) = try ModelConfiguration.derive(sd, checkpoint: ckpt, yaml: stated.map { UpstreamConfig(huggingFace: $0) }) else {
                throw ModelError.badConfig("not maskgit-vqgan")
            }
            return c
        }
        let c = try config(nil)
        XCTAssertEqual(c.channelMult, [1, 1])
        XCTAssertEqual(c.numResBlocks, 2)
        XCTAssertEqual(c.numEmbeddings, 64)
        var stated = UpstreamConfig.HuggingFaceConfig()
        stated.hiddenChannels = 128
        XCTAssertThrowsError(try config(stated)) { e in XCTAssertTrue("\(e)".contains("hidden_channels"), "\(e)") }
        stated.hiddenChannels = nil
        stated.channelMult = [1, 1]
        stated.zChannels = 32
        XCTAssertEqual(try config(stated), c)
        // TF "SAME": total padding max((ceil(i/s) - 1) * s + (k - 1) * d + 1 - i, 0).
        XCTAssertEqual(Conv2dSame.samePadding(input: 256, kernel: 3, stride: 1, dilation: 1), 2)
        XCTAssertEqual(Conv2dSame.samePadding(input: 256, kernel: 1, stride: 1, dilation: 1), 0)
        XCTAssertEqual(Conv2dSame.samePadding(input: 255, kernel: 3, stride: 2, dilation: 1), 2)
        XCTAssertEqual(Conv2dSame.samePadding(input: 256, kernel: 3, stride: 2, dilation: 1), 1)
    }

    func testCodesOutsideTheCodebookAreRefused() throws {
        let model = try ModelLoader.load(path: path("maskgit-small/maskgit-vqgan-small.bin")).model
        XCTAssertThrowsError(try model.decode(codes: [0, 64, 1, 2], shape: [1, 2, 2]))
        XCTAssertThrowsError(try model.decode(codes: [0, 1, 2], shape: [1, 2, 2]))
        XCTAssertThrowsError(try model.encode(try Tensor(zeros: [1, 4, 64, 64])))
    }
}
