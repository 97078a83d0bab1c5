import XCTest
import Foundation
import NN
import Tensor

final class WeightLoaderTests: XCTestCase {
    private func source() throws -> DictionaryWeightSource {
        try DictionaryWeightSource([
            (name: "encoder.conv_in.weight", shape: [4, 3, 3, 3], values: [Float](repeating: 0.5, count: 108)),
            (name: "encoder.conv_in.bias", shape: [4], values: [1, 2, 3, 4]),
            (name: "encoder.norm.weight", shape: [4], values: [1, 1, 1, 1]),
            (name: "loss.discriminator.w", shape: [1], values: [0]),
            (name: "extra.thing", shape: [2], values: [0, 0]),
        ])
    }

    func testScopesBuildKeysAndReportUnexpected() throws {
        let loader = WeightLoader(try source())
        let enc = loader.root.scope("encoder")
        XCTAssertEqual(enc.scope("down").scope(0).key("weight"), "encoder.down.0.weight")
        _ = try Conv2d(enc.scope("conv_in"), inChannels: 3, outChannels: 4, kernelSize: 3, padding: Padding2D(1))
        XCTAssertEqual(loader.used, ["encoder.conv_in.weight", "encoder.conv_in.bias"])
        let report = try loader.finish(ignoring: ["loss."])
        XCTAssertEqual(report.missing, [])
        XCTAssertEqual(report.unexpected, ["encoder.norm.weight", "extra.thing"])
        XCTAssertEqual(loader.report().unexpected, ["encoder.norm.weight", "loss.discriminator.w", "extra.thing"])
    }

    func testShapeMismatchNamesKeyAndShapes() throws {
        let loader = WeightLoader(try source())
        XCTAssertThrowsError(try Conv2d(loader.root.scope("encoder.conv_in"), inChannels: 3, outChannels: 4, kernelSize: 5)) { e in
            XCTAssertEqual(e as? WeightError, .shapeMismatch(key: "encoder.conv_in.weight", expected: [4, 3, 5, 5], actual: [4, 3, 3, 3]))
            XCTAssertTrue("\(e)".contains("encoder.conv_in.weight"))
            XCTAssertTrue("\(e)".contains("[4, 3, 5, 5]"))
        }
    }

    func testMissingFailsOrIsCollected() throws {
        let strict = WeightLoader(try source())
        XCTAssertThrowsError(try GroupNorm(strict.root.scope("encoder.norm"), groups: 2, channels: 4)) { e in
            XCTAssertEqual(e as? WeightError, .missing(key: "encoder.norm.bias", expected: [4]))
        }
        let lenient = WeightLoader(try source(), missing: .collect)
        _ = try GroupNorm(lenient.root.scope("encoder.norm"), groups: 2, channels: 4)
        _ = try LayerNorm(lenient.root.scope("decoder.ln"), dimension: 4)
        XCTAssertEqual(lenient.report().missing, ["encoder.norm.bias", "decoder.ln.weight", "decoder.ln.bias"])
        XCTAssertThrowsError(try lenient.finish()) { e in
            XCTAssertEqual(e as? WeightError, .missingKeys(["encoder.norm.bias", "decoder.ln.weight", "decoder.ln.bias"]))
        }
    }

    func testBadConfigurationAndValueCountsThrow() throws {
        XCTAssertThrowsError(try DictionaryWeightSource([(name: "a", shape: [2, 2], values: [1, 2, 3])]))
        let loader = WeightLoader(try source())
        XCTAssertThrowsError(try GroupNorm(loader.root.scope("encoder.norm"), groups: 3, channels: 4))
        XCTAssertThrowsError(try Conv2d(loader.root, inChannels: 0, outChannels: 4, kernelSize: 3))
    }

    func testLayersComputeWhatTheirWeightsSay() throws {
        let src = try DictionaryWeightSource([
            (name: "lin.weight", shape: [2, 3], values: [1, 0, 0, 0, 1, 1]),
            (name: "lin.bias", shape: [2], values: [0.5, -1]),
            (name: "emb.weight", shape: [3, 2], values: [0, 1, 10, 11, 20, 21]),
        ])
        let root = WeightLoader(src).root
        let lin = try Linear(root.scope("lin"), inFeatures: 3, outFeatures: 2)
        XCTAssertEqual(try lin(try Tensor(shape: [1, 3], values: [1, 2, 3])).toArray(), [1.5, 4])
        let emb = try Embedding(root.scope("emb"), count: 3, dimension: 2)
        XCTAssertEqual(try emb([2, 0]).toArray(), [20, 21, 0, 1])
        XCTAssertThrowsError(try emb([3]))
    }
}
