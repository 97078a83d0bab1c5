// The FID Inception port against pytorch-fid / pytorch-image-generation-metrics run on the same images with the
// same (synthetic, "inception-fixture v1") weights: Fixtures/inception, tools/make_inception_fixtures.py.
import Foundation
import Imaging
import Models
import NN
import NPY
import Tensor
import XCTest

final class InceptionFixtureTests: XCTestCase {
    /// The key table the port builds from equals the state dict of pytorch-fid's `fid_inception_v3()` module.
    func testStateDictLayoutMatchesPyTorch() throws {
        let data = try Data(contentsOf: InceptionFixtures.directory.appendingPathComponent("keys.json"))
        let keys = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        XCTAssertEqual(keys.count, 472)
        let ours = InceptionWeights.stateDictLayout
        XCTAssertEqual(ours.count, keys.count)
        for (mine, theirs) in zip(ours, keys) {
            XCTAssertEqual(mine.name, theirs["name"] as? String)
            XCTAssertEqual(mine.shape, theirs["shape"] as? [Int], mine.name)
        }
        XCTAssertEqual(ours.reduce(0) { $0 + $1.shape.reduce(1, *) }, 23_885_392)
    }

    func testFeaturesMatchPyTorchSeed1() throws { try checkFeatures(seed: 1) }
    func testFeaturesMatchPyTorchSeed2() throws { try checkFeatures(seed: 2) }

    private func checkFeatures(seed: Int) throws {
        let paths = InceptionFixtures.imagePaths
        XCTAssertEqual(paths.count, 9)
        let batch = BatchLoader.load(paths: paths, preset: try XCTUnwrap(Preset.named("inception")))
        XCTAssertTrue(batch.failures.isEmpty, "\(batch.failures)")
        XCTAssertEqual([batch.height, batch.width], [299, 299])
        let n = batch.count
        let x = try Tensor(shape: [n, 3, 299, 299], values: batch.tensor)
        let model = try InceptionWeights.build(from: InceptionWeights.synthetic(seed: UInt64(seed)))
        let (pool3, logitsTensor) = try model(x)
        XCTAssertEqual(pool3.shape, [n, 2048])
        let logits = try XCTUnwrap(logitsTensor)
        XCTAssertEqual(logits.shape, [n, 1008])

        let ours = pool3.toArray()
        let torch32 = try InceptionFixtures.array("seed\(seed)/pool3.npy").doubles()
        let torch64 = try InceptionFixtures.array("seed\(seed)/pool3_f64.npy").doubles()
        let vsTorch = maxRowRelativeError(ours, torch32, rows: n)
        let vs64 = maxRowRelativeError(ours, torch64, rows: n)
        let elementwise = maxElementRelativeError(ours, torch32, rows: n)
        let torchOwn = maxRowRelativeError(torch32.map { Float($0) }, torch64, rows: n)
        print("seed \(seed): pool3 vs torch f32 \(vsTorch) (elementwise \(elementwise)), vs torch f64 \(vs64) (torch f32 itself \(torchOwn))")
        XCTAssertLessThan(vsTorch, 1e-4, "pool3 relative error against pytorch-fid")
        XCTAssertLessThan(elementwise, 1e-4, "pool3 elementwise relative error against pytorch-fid")
        // Our float32 error is of the same order as PyTorch's own.
        XCTAssertLessThan(vs64, max(10 * torchOwn, 1e-6))
        // Features must depend on the image (a broken input path would still give plausible constants).
        var spread = 0.0
        for c in 0..<2048 { spread = max(spread, abs(Double(ours[c]) - Double(ours[2048 + c]))) }
        XCTAssertGreaterThan(spread, 0.01)

        let torchLogits = try InceptionFixtures.array("seed\(seed)/logits.npy").doubles()
        let logitErr = maxRowRelativeError(logits.toArray(), torchLogits, rows: n)
        let probs = try logits.softmax().toArray()
        let pigm = try InceptionFixtures.array("seed\(seed)/probs.npy").doubles()
        let probErr = maxRowRelativeError(probs, pigm, rows: n)
        print("seed \(seed): logits vs torch \(logitErr), softmax vs PIGM \(probErr)")
        XCTAssertLessThan(logitErr, 1e-4)
        XCTAssertLessThan(probErr, 1e-4)
    }

    /// The weight loader is as strict as `load_state_dict(strict=True)`, naming what is wrong.
    func testRejectsOtherWeights() throws {
        let layout = InceptionWeights.stateDictLayout
        func source(dropping drop: String? = nil, adding extra: [(String, [Int])] = [],
                    reshaping: String? = nil) -> WeightSource {
            var tensors = layout.filter { $0.name != drop }
            tensors = tensors.map { $0.name == reshaping ? ($0.name, [$0.shape[0] + 1] + $0.shape.dropFirst()) : $0 }
            tensors += extra.map { (name: $0.0, shape: $0.1) }
            return DeterministicWeightSource(seed: 3, tensors: tensors)
        }
        // torchvision's ImageNet Inception carries AuxLogits: not the FID network.
        XCTAssertThrowsError(try InceptionWeights.build(from: source(adding: [("AuxLogits.fc.weight", [1000, 768])]))) {
            XCTAssertTrue("\($0)".contains("AuxLogits.fc.weight"), "\($0)")
        }
        XCTAssertThrowsError(try InceptionWeights.build(from: source(dropping: "Mixed_6c.branch7x7_2.bn.running_var"))) {
            XCTAssertTrue("\($0)".contains("Mixed_6c.branch7x7_2.bn.running_var"), "\($0)")
        }
        XCTAssertThrowsError(try InceptionWeights.build(from: source(reshaping: "fc.bias"))) {
            XCTAssertTrue("\($0)".contains("fc.bias"), "\($0)")
        }
        // num_batches_tracked buffers are welcome either way.
        let batchNorms = InceptionWeights.stateDictLayout.map(\.name).filter { $0.hasSuffix(".bn.running_var") }
        XCTAssertEqual(batchNorms.count, 94)
        let withCounters = source(adding: batchNorms.map { ($0.replacingOccurrences(of: ".running_var", with: ".num_batches_tracked"), []) })
        XCTAssertNoThrow(try InceptionWeights.build(from: withCounters))
    }

    func testMissingWeightsFileSaysWhereTheStandardOneComesFrom() {
        XCTAssertThrowsError(try InceptionWeights.load(path: "/nonexistent/pt_inception.pth")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("/nonexistent/pt_inception.pth"), text)
            XCTAssertTrue(text.contains(InceptionWeights.standardURL), text)
            XCTAssertTrue(text.contains("6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"), text)
        }
    }
}
