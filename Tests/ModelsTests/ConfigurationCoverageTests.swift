// The latent-diffusion first stages and ViT-VQGAN configurations without a numeric fixture: the Swift models ask for
// exactly the state-dict keys the spec printed from the upstream modules (architectures.md §1.5, §2.6), and run.

import Foundation
import Models
import NN
import Tensor
import XCTest

final class ConfigurationCoverageTests: XCTestCase {
    func ldm(_ chMult: [Int], attn: [Int], z: Int, nEmbed: Int, attnType: TamingAttention = .vanilla) throws -> (LDMVQGAN, GeneratedWeightSource) {
        let source = GeneratedWeightSource(seed: 7)
        let config = TamingConfig(ch: 128, chMult: chMult, numResBlocks: 2, attnResolutions: attn, zChannels: z, attnType: attnType)
        return (try LDMVQGAN(WeightLoader(source).root, config: config, nEmbed: nEmbed, embedDim: z), source)
    }

    func testLatentDiffusionFirstStagesUseTheUpstreamKeys() throws {
        // (name, ch_mult, attn_resolutions, z, n_embed, attn_type, keys printed from upstream)
        let cases: [(String, [Int], [Int], Int, Int, TamingAttention, Int)] = [
            ("vq-f4", [1, 2, 4], [], 3, 8192, .vanilla, 205),
            ("vq-f4-noattn", [1, 2, 4], [], 3, 8192, .none, 185),
            ("vq-f8", [1, 2, 2, 4], [32], 4, 16384, .vanilla, 299),
            ("vq-f8-n256", [1, 2, 2, 4], [32], 4, 256, .vanilla, 299),
            ("vq-f16", [1, 1, 2, 2, 4], [16], 8, 16384, .vanilla, 343),
        ]
        for (name, mult, attn, z, n, type, keys) in cases {
            let (model, source) = try ldm(mult, attn: attn, z: z, nEmbed: n, attnType: type)
            XCTAssertEqual(source.names.count, keys, "\(name): keys asked for")
            XCTAssertEqual(source.names.contains("encoder.mid.attn_1.q.weight"), type == .vanilla, name)
            if name == "vq-f4-noattn" {
                // Smallest of them: one forward pass at 32x32 must give finite pixels of the right shape.
                let x = try Tensor(shape: [1, 3, 32, 32]) { b in for i in 0..<b.count { b[i] = Float(sin(Double(i) * 0.01)) } }
                let (e, y) = try model.reconstruct(x)
                XCTAssertEqual(e.codeShape, [1, 8, 8])
                XCTAssertEqual(y.shape, [1, 3, 32, 32])
                XCTAssertTrue(y.toArray().allSatisfy(\.isFinite))
            }
        }
    }

    func testViTConfigurationsUseTheUpstreamKeys() throws {
        // small: 191 keys (architectures.md §1.5); each extra layer adds 11 keys per transformer.
        for (name, enc, dec, keys) in [("small", (512, 8, 8, 2048), (512, 8, 8, 2048), 191),
                                       ("base", (768, 12, 12, 3072), (768, 12, 12, 3072), 191 + 2 * 4 * 11),
                                       ("large", (512, 8, 8, 2048), (1280, 32, 16, 5120), 191 + 24 * 11)] {
            var c = ViTVQConfig()
            c.encoder = .init(dim: enc.0, depth: enc.1, heads: enc.2, mlpDim: enc.3)
            c.decoder = .init(dim: dec.0, depth: dec.1, heads: dec.2, mlpDim: dec.3)
            let source = GeneratedWeightSource(seed: 3)
            _ = try ViTVQGAN(WeightLoader(source).root, config: c)
            XCTAssertEqual(source.names.count, keys, "\(name): keys asked for")
            XCTAssertTrue(source.names.contains("decoder.to_pixel.1.weight"), name)
        }
    }
}
