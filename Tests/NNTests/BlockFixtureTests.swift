import TestSupport
import XCTest
import Foundation
import NN
import Tensor

/// taming/ldm building blocks with vqrt-rng v1 weights against PyTorch (Fixtures/nn, tools/make_nn_fixtures.py).
final class BlockFixtureTests: XCTestCase {
    private struct Built {
        let c: NNCase
        let weights: Weights
        let loader: WeightLoader
        let x: Tensor
    }

    private func cases(_ kind: String) throws -> [Built] {
        let list = NNFixtures.cases(kind: kind).map(NNCase.init)
        XCTAssertFalse(list.isEmpty, "no fixtures of kind \(kind): run tools/make_nn_fixtures.py")
        return try list.map { c in
            let w = c.json["weights"] as? [String: Any] ?? [:]
            let tensors = (w["tensors"] as? [[Any]] ?? []).map { ($0[0] as? String ?? "", $0[1] as? [Int] ?? []) }
            let source = DeterministicWeightSource(seed: UInt64(w["seed"] as? Int ?? 0),
                                                   tensors: tensors.map { (name: $0.0, shape: $0.1) })
            // PyTorch's own arithmetic (direct convolutions, upsampling as written); the fused upsample is checked
            // against the same fixtures below.
            let loader = WeightLoader(source, execution: .reference)
            let x = try c.input("x")
            return Built(c: c, weights: loader.root.scope(w["prefix"] as? String ?? ""), loader: loader,
                         x: try Tensor(shape: x.shape, values: x.values))
        }
    }

    /// Every key of the fixture's state dict was used, and nothing was missing.
    private func assertExactKeys(_ b: Built) throws {
        let report = try b.loader.finish()
        XCTAssertTrue(report.isExact, "\(b.c.name): \(report)")
    }

    private func config(_ p: [String: Any]) -> TamingConfig {
        TamingConfig(ch: p["ch"] as? Int ?? 0, outCh: p["out_ch"] as? Int ?? 0, chMult: p["ch_mult"] as? [Int] ?? [],
                     numResBlocks: p["num_res_blocks"] as? Int ?? 0, attnResolutions: p["attn_resolutions"] as? [Int] ?? [],
                     inChannels: p["in_channels"] as? Int ?? 0, resolution: p["resolution"] as? Int ?? 0,
                     zChannels: p["z_channels"] as? Int ?? 0, doubleZ: p["double_z"] as? Bool ?? false,
                     attnType: TamingAttention(rawValue: p["attn_type"] as? String ?? "") ?? .vanilla)
    }

    override func tearDown() {
        // No block may have fallen back to a scalar reference kernel (e.g. through an unsupported layout).
        XCTAssertEqual(DNNLDiagnostics.referenceImplementations, [])
        super.tearDown()
    }

    func testResnetBlock() throws {
        for b in try cases("resnet_block") {
            let block = try ResnetBlock(b.weights, inChannels: b.c.params["in"] as? Int ?? 0,
                                        outChannels: b.c.params["out"] as? Int ?? 0)
            try assertExactKeys(b)
            for layout in [TensorLayout.plain, .nChw16c, .nhwc] {
                let y = try block(try b.x.to(layout))
                try b.c.check(y.toArray(), shape: y.shape, label: "\(layout)")
            }
        }
    }

    func testAttnBlock() throws {
        for b in try cases("attn_block") {
            let block = try AttnBlock(b.weights, channels: b.c.params["channels"] as? Int ?? 0)
            try assertExactKeys(b)
            for layout in [TensorLayout.plain, .nChw16c, .nhwc] {
                let y = try block(try b.x.to(layout))
                try b.c.check(y.toArray(), shape: y.shape, label: "\(layout)")
            }
        }
    }

    func testDownsampleAndUpsample() throws {
        for b in try cases("downsample") {
            let block = try Downsample(b.weights, channels: b.c.params["channels"] as? Int ?? 0)
            try assertExactKeys(b)
            let y = try block(b.x)
            try b.c.check(y.toArray(), shape: y.shape)
        }
        for b in try cases("upsample") {
            for fused in [true, false] {
                var execution = ExecutionConfig.reference
                execution.fusesUpsampling = fused
                let block = try Upsample(b.weights.with(execution: execution), channels: b.c.params["channels"] as? Int ?? 0)
                for layout in [TensorLayout.plain, .nChw16c] {
                    let y = try block(try b.x.to(layout))
                    try b.c.check(y.toArray(), shape: y.shape, label: "\(fused ? "fused" : "literal") \(layout)")
                }
            }
            try assertExactKeys(b)
        }
    }

    func testEncoderAndDecoder() throws {
        for b in try cases("encoder") {
            let enc = try Encoder(b.weights, config: config(b.c.params))
            try assertExactKeys(b)
            let y = try enc(b.x)
            XCTAssertEqual(y.layout, .plain)
            try b.c.check(y.toArray(), shape: y.shape)
        }
        for b in try cases("decoder") {
            for fused in [true, false] {
                var execution = ExecutionConfig.reference
                execution.fusesUpsampling = fused
                let dec = try Decoder(b.weights.with(execution: execution), config: config(b.c.params))
                let y = try dec(b.x)
                try b.c.check(y.toArray(), shape: y.shape, label: fused ? "fused upsample" : "literal upsample")
            }
            try assertExactKeys(b)
        }
    }
}
