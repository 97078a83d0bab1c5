// Open-MAGVIT2, IBQ and taming's GumbelVQ beyond the numeric fixtures (ConformanceTests runs those): the EMA
// weights their evaluation uses, detection and forced-family errors, LFQ's bit semantics, and the upstream key
// layouts of the released configurations.

import Foundation
import Models
import NN
import NPY
import Tensor
import TorchFormats
import XCTest

final class SeedVokenTamingFamilyTests: XCTestCase {
    func fixture(_ name: String) -> URL { ConformanceTests.root.appendingPathComponent(name) }

    func input(_ name: String) throws -> Tensor {
        let a = try NPY.read(path: fixture(name).appendingPathComponent("input.npy").path)
        return try Tensor(shape: a.shape, values: try a.floats())
    }

    /// The SEED-Voken fixtures' shadows differ from their parameters: the EMA model reproduces upstream's
    /// evaluation (ConformanceTests), the parameters give other codes; `use_ema: false` in the YAML selects them.
    func testSeedVokenCheckpointsRunTheirEMAWeights() throws {
        for (name, file, family) in [("open-magvit2-small", "imagenet_256_L.ckpt", ModelFamily.openMAGVIT2),
                                     ("ibq-small", "imagenet256_16384.ckpt", .ibq)] {
            let path = fixture(name).appendingPathComponent(file).path
            let yaml = fixture(name).appendingPathComponent("config.yaml").path
            let ema = try ModelLoader.load(path: path, configPath: yaml)
            XCTAssertEqual(ema.model.family, family)
            XCTAssertGreaterThan(ema.emaWeights, 20, name)
            XCTAssertTrue(ema.ignoredKeys.contains("model_ema.decay"), name)
            XCTAssertTrue(ema.configuration.usesEMAWeights, name)
            XCTAssertTrue(ema.configuration.emaWeightsNote?.hasPrefix("EMA") == true, name)
            // Without the YAML: the same family (IBQ is told from a taming VQGAN by its EMA shadows).
            XCTAssertEqual(try ModelLoader.load(path: path).model.family, family, name)

            let text = try String(contentsOfFile: yaml, encoding: .utf8)
            XCTAssertTrue(text.contains("use_ema: true"), name)
            let noEMA = FileManager.default.temporaryDirectory.appendingPathComponent("vqrt-\(name)-no-ema.yaml")
            try text.replacingOccurrences(of: "use_ema: true", with: "use_ema: false").write(to: noEMA, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: noEMA) }
            let raw = try ModelLoader.load(path: path, configPath: noEMA.path)
            XCTAssertEqual(raw.emaWeights, 0, name)
            XCTAssertFalse(raw.configuration.usesEMAWeights, name)
            let x = try input(name)
            let a = try ema.model.encode(x), b = try raw.model.encode(x)
            XCTAssertNotEqual(a.codes, b.codes, "\(name): EMA and raw weights gave the same codes")
        }
    }

    /// A shadow missing for one parameter: an error naming it, not a model mixing EMA and training weights.
    func testPartialEMAWeightsAreRefused() throws {
        let source = try DictionaryWeightSource([("a.weight", [2, 3], [Float](repeating: 1, count: 6)),
                                                 ("a.bias", [2], [0, 0]),
                                                 ("model_ema.aweight", [2, 3], [Float](repeating: 2, count: 6)),
                                                 ("model_ema.decay", [], [0.999])])
        let ema = try EMAWeightSource(source)
        let loader = WeightLoader(ema)
        let layer = try Linear(loader.root.scope("a"), inFeatures: 3, outFeatures: 2)
        XCTAssertEqual(try layer(try Tensor(shape: [1, 3], values: [1, 1, 1])).toArray(), [6, 6])   // the shadow's 2s
        XCTAssertThrowsError(try ema.checkComplete(used: loader.used)) { error in
            XCTAssertTrue("\(error)".contains("'a.bias'"), "\(error)")
        }
        // A shadow of another shape than its parameter.
        let bad = try EMAWeightSource(try DictionaryWeightSource([("a.weight", [2, 3], [Float](repeating: 1, count: 6)),
                                                                  ("model_ema.aweight", [3, 2], [Float](repeating: 2, count: 6))]))
        XCTAssertThrowsError(try bad.tensor(named: "a.weight"))
    }

    /// Each small fixture forced into every other family: it loads only where the model really is the same
    /// (taming VQModel = ldm-vqgan = IBQ's modules; taming-vqgan is GumbelVQ alone), else a one-line error that
    /// names a key.
    func testForcedFamiliesFailWithOneLineNamingAKey() throws {
        let fixtures: [(String, String)] = [("open-magvit2-small", "imagenet_256_L.ckpt"), ("ibq-small", "imagenet256_16384.ckpt"),
                                            ("taming-small", "last.ckpt"), ("taming-gumbel-small", "last.ckpt"),
                                            ("ldm-small", "model.ckpt"), ("rt-small-cosine", "20_model.pth"), ("vit-small", "last.ckpt")]
        let sameModules: Set<[String]> = [["ibq-small", "ldm-vqgan"], ["taming-small", "ibq"], ["ldm-small", "ibq"]]
        for (name, file) in fixtures {
            let path = fixture(name).appendingPathComponent(file).path
            let yaml = ["config.yaml", "model.yaml"].map { fixture(name).appendingPathComponent($0).path }
                .first { FileManager.default.fileExists(atPath: $0) }
            let own = try ModelLoader.load(path: path, configPath: yaml).model.family
            for family in ModelFamily.allCases where family != own {
                do {
                    _ = try ModelLoader.load(path: path, family: family, configPath: yaml)
                    XCTAssertTrue(sameModules.contains([name, family.rawValue]), "\(name) loaded as \(family.rawValue)")
                } catch {
                    let message = "\(error)"
                    XCTAssertFalse(sameModules.contains([name, family.rawValue]), "\(name) as \(family.rawValue): \(message)")
                    XCTAssertFalse(message.contains("\n"), message)
                    XCTAssertTrue(message.range(of: #"'[A-Za-z_0-9.]+'"#, options: .regularExpression) != nil,
                                  "\(name) as \(family.rawValue): no key named in: \(message)")
                }
            }
        }
    }

    /// LFQ (lookup_free_quantize.py): bit d is x_d > 0 (0, -0 and NaN are 0), channel 0 least significant, index
    /// = Σ bit_d 2^d; decoding gives ±1; no 2^18-row table.
    func testLookupFreeQuantizationBits() throws {
        let lfq = try LFQ(codebookDim: 18)
        XCTAssertEqual(lfq.codebookSize, 262_144)
        // Three positions (1 x 18 x 1 x 3): all positive, alternating with exact and negative zeros / NaN, all negative.
        var x = [Float](repeating: 0, count: 18 * 3)
        for d in 0..<18 {
            x[d * 3 + 0] = 0.5 + Float(d)
            x[d * 3 + 1] = d % 2 == 0 ? Float(d + 1) * 1e-30 : [Float(0), -0.0, .nan][d % 3]
            x[d * 3 + 2] = -1e-38
        }
        let (codes, error) = try lfq.codes(try Tensor(shape: [1, 18, 1, 3], values: x))
        XCTAssertEqual(codes, [262_143, 0b01_0101_0101_0101_0101, 0])
        XCTAssertTrue(error[0].isFinite && error[2].isFinite)
        let back = try lfq.entries(codes, n: 1, h: 1, w: 3).toArray()
        for d in 0..<18 {
            XCTAssertEqual(back[d * 3 + 0], 1)
            XCTAssertEqual(back[d * 3 + 1], d % 2 == 0 ? 1 : -1)
            XCTAssertEqual(back[d * 3 + 2], -1)
        }
        XCTAssertThrowsError(try LFQ(codebookDim: 0))
        XCTAssertThrowsError(try LFQ(codebookDim: 40))
    }

    /// AdaptiveGroupNorm's unbiased variance needs two latent positions: a 16x16 image through an f16 model is
    /// refused with a message, not NaN pixels.
    func testOneByOneLatentIsRefusedByTheAdaptiveNorm() throws {
        let model = try OpenMAGVIT2(WeightLoader(GeneratedWeightSource(seed: 5)).root,
                                    config: OpenMAGVIT2Config(ch: 32, chMult: [1, 1], numResBlocks: 1, zChannels: 6))
        XCTAssertThrowsError(try model.decode(codes: [5], shape: [1, 1, 1])) { XCTAssertTrue("\($0)".contains("2 positions"), "\($0)") }
        XCTAssertEqual(try model.decode(codes: [5, 63], shape: [1, 1, 2]).shape, [1, 3, 2, 4])
        XCTAssertThrowsError(try model.decode(codes: [64, 0], shape: [1, 1, 2]))
    }

    /// The released configurations ask for exactly the keys of upstream's bare model (encoder, decoder, quantize,
    /// quant_conv, post_quant_conv); counts printed from the upstream modules' state_dict() (SEED-Voken b9a17ea,
    /// taming 3ba01b2) by tools/upstream_families.py.
    func testReleasedConfigurationsUseTheUpstreamKeys() throws {
        let magvit: [(String, [Int], Int, Int)] = [("256_L", [1, 1, 2, 2, 4], 18, 339), ("128_L", [1, 2, 2, 4], 18, 283),
                                                    ("pretrain_16384", [1, 1, 2, 2, 4], 14, 339)]
        for (name, mult, z, keys) in magvit {
            let source = GeneratedWeightSource(seed: 1)
            let m = try OpenMAGVIT2(WeightLoader(source).root, config: OpenMAGVIT2Config(chMult: mult, numResBlocks: 4, zChannels: z))
            XCTAssertEqual(source.names.count, keys, name)
            XCTAssertEqual(m.codebookSize, 1 << z)
            XCTAssertTrue(source.names.contains("decoder.adaptive.4.gamma.weight") == (mult.count == 5), name)
        }
        let taming = TamingConfig(ch: 128, chMult: [1, 1, 2, 2, 4], numResBlocks: 4, attnResolutions: [16], zChannels: 256)
        let ibqSource = GeneratedWeightSource(seed: 2)
        _ = try IBQ(WeightLoader(ibqSource).root, config: taming, nEmbed: 1024, embedDim: 256)
        XCTAssertEqual(ibqSource.names.count, 543, "IBQ imagenet_ibqgan_1024/16384/262144")
        var gumbel = TamingConfig(ch: 128, chMult: [1, 1, 2, 4], numResBlocks: 2, attnResolutions: [32], zChannels: 256)
        let gumbelSource = GeneratedWeightSource(seed: 3)
        _ = try TamingGumbelVQ(WeightLoader(gumbelSource).root, config: gumbel, nEmbed: 8192, embedDim: 256)
        XCTAssertEqual(gumbelSource.names.count, 301, "GumbelVQ OpenImages f8-8192")
        XCTAssertTrue(gumbelSource.names.contains("quantize.proj.bias") && gumbelSource.names.contains("quantize.embed.weight"))
        gumbel.zChannels = 128
        XCTAssertThrowsError(try TamingGumbelVQ(WeightLoader(GeneratedWeightSource(seed: 3)).root, config: gumbel, nEmbed: 16, embedDim: 256))
        let f16 = TamingConfig(ch: 128, chMult: [1, 1, 2, 2, 4], numResBlocks: 2, attnResolutions: [16], zChannels: 256)
        let f16Source = GeneratedWeightSource(seed: 4)
        _ = try LDMVQGAN(WeightLoader(f16Source).root, config: f16, nEmbed: 1024, embedDim: 256)
        XCTAssertEqual(f16Source.names.count, 343, "taming ImageNet f16-1024 / 16384 (= ldm vq-f16's layout)")
    }
}
