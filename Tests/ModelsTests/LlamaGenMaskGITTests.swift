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
        // TorchFormats' guess (what `inspect` shows until detection moves into Models) agrees.
        for (file, family) in [("llamagen-small/0025000.pt", ModelFamily.llamagenVQ), ("maskgit-small/maskgit-vqgan-small.bin", .maskgitVQGAN)] {
            let ckpt = try Checkpoint.open(path: path(file))
            XCTAssertEqual(FamilyGuess.detect(try ckpt.stateDict(), checkpoint: ckpt)?.family, family, file)
        }
        // The latent-diffusion VQGAN is still ldm-vqgan (LlamaGen also has quantize.embedding and quant_conv).
        XCTAssertEqual(try ModelLoader.load(path: path("ldm-small/model.ckpt")).model.family, .ldmVQGAN)
    }

    func testLlamaGenHyperParametersFromWeightsArgsAndConfig() throws {
        let pt = try ModelLoader.load(path: path("llamagen-small/0025000.pt"))
        let summary = Dictionary(pt.model.summary, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(summary["encoder_ch_mult"], "[1, 1]")
        XCTAssertEqual(summary["codebook_l2_norm"], "true")
        // config.json beside model.safetensors turns the l2 normalisation off (the weights cannot tell).
        let hf = try ModelLoader.load(path: path("llamagen-hf-small/model.safetensors"))
        XCTAssertEqual(Dictionary(hf.model.summary, uniquingKeysWith: { a, _ in a })["codebook_l2_norm"], "false")
        // Stated sizes must agree with the weights.
        let sd = try Checkpoint.open(path: path("llamagen-hf-small/model.safetensors")).stateDict()
        XCTAssertThrowsError(try LlamaGenVQ.args(from: sd, config: ["codebook_size": 16384])) { e in
            XCTAssertTrue("\(e)".contains("codebook_size"), "\(e)")
        }
        XCTAssertThrowsError(try LlamaGenVQ.args(from: sd, config: ["codebook_l2_norm": "yes"]))
        let a = try LlamaGenVQ.args(from: sd, config: ["codebook_size": 64, "encoder_ch_mult": [1, 1]])
        XCTAssertEqual(a.codebookSize, 64)
        XCTAssertNil(a.upstreamName)
        XCTAssertEqual(LlamaGenArgs.vq(16).upstreamName, "VQ-16")
        XCTAssertEqual(LlamaGenArgs.vq(8).upstreamName, "VQ-8")
    }

    /// upstream's evaluation reads `ema` before `model`; the fixture's `model` entry holds other weights, so
    /// reading it instead changes the latents far beyond the float tolerance.
    func testLlamaGenEvaluatesTheEMAWeights() throws {
        let ckpt = try Checkpoint.open(path: path("llamagen-small/0025000.pt"))
        let generic = try ckpt.stateDict()
        XCTAssertEqual(generic.source, "model")
        XCTAssertEqual(try ckpt.stateDict(preferring: LlamaGenVQ.stateDictKeys).source, "ema")
        let input = try NPY.read(path: path("llamagen-small/input.npy"))
        let x = try Tensor(shape: input.shape, values: try input.floats())
        let lat64 = try NPY.read(path: path("llamagen-small/latents64.npy")).doubles()
        let fromModel = try LlamaGenVQ(WeightLoader(StateDictWeightSource(generic)).root, args: try LlamaGenVQ.args(from: generic))
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
        let sd = try Checkpoint.open(path: path("maskgit-hf-small/model.safetensors")).stateDict()
        let c = try MaskGITVQGAN.config(from: sd)
        XCTAssertEqual(c.channelMult, [1, 1])
        XCTAssertEqual(c.numResBlocks, 2)
        XCTAssertEqual(c.numEmbeddings, 64)
        XCTAssertThrowsError(try MaskGITVQGAN.config(from: sd, config: ["hidden_channels": 128])) { e in
            XCTAssertTrue("\(e)".contains("hidden_channels"), "\(e)")
        }
        XCTAssertEqual(try MaskGITVQGAN.config(from: sd, config: ["channel_mult": [1, 1], "z_channels": 32]), c)
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
