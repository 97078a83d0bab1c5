// The torch-fidelity protocol: its FeatureExtractorInceptionV3 (uint8 input, TF1-style bilinear resize to 299,
// (x - 128) / 128) on the same network and weights, against torch-fidelity 0.4.0 itself run on the same image files
// with the same synthetic weights ("inception-fixture v1", seed 1, saved in torch-fidelity's own plain-dict layout):
// Fixtures/paper_metrics/fidelity.json and pool3_fidelity.npy, tools/make_metric_fixtures.py.
import Foundation
import Imaging
import Models
import NPY
import Tensor
import XCTest

final class TorchFidelityProtocolTests: XCTestCase {
    static let paperFixtures = InceptionFixtures.root.appendingPathComponent("paper_metrics")

    func testFeaturesMatchTorchFidelity() throws {
        let data = try Data(contentsOf: Self.paperFixtures.appendingPathComponent("fidelity.json"))
        let j = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let repo = InceptionFixtures.root.deletingLastPathComponent()
        let paths = try XCTUnwrap(j["files"] as? [String]).map { repo.appendingPathComponent($0).path }
        let reference = try NPY.read(path: Self.paperFixtures.appendingPathComponent("pool3_fidelity.npy").path)
        XCTAssertEqual(reference.shape, [paths.count, 2048])
        let want = try reference.doubles()

        let model = try InceptionWeights.build(from: InceptionWeights.synthetic(seed: 1))
        let preset = Preset.inceptionTorchFidelity()
        XCTAssertEqual(Preset.named("inception-torch-fidelity"), preset)
        let batch = BatchLoader.load(paths: paths, preset: preset)
        XCTAssertTrue(batch.failures.isEmpty, "\(batch.failures)")
        let n = batch.count
        let (pool3, _) = try model(try Tensor(shape: [n, 3, 299, 299], values: batch.tensor), logits: false)
        let ours = pool3.toArray()
        let rowError = maxRowRelativeError(ours, want, rows: n)
        let elementError = maxElementRelativeError(ours, want, rows: n)
        print("torch-fidelity protocol: pool3 vs torch-fidelity row-relative \(rowError), elementwise \(elementError)")
        XCTAssertLessThan(rowError, 1e-4)
        XCTAssertLessThan(elementError, 1e-4)

        // The protocols differ: pytorch-fid's input pipeline on the same files gives other features.
        let pf = BatchLoader.load(paths: paths, preset: try XCTUnwrap(Preset.named("inception")))
        let (pfPool3, _) = try model(try Tensor(shape: [n, 3, 299, 299], values: pf.tensor), logits: false)
        let between = maxRowRelativeError(pfPool3.toArray(), want, rows: n)
        print("pytorch-fid protocol vs torch-fidelity on the same files: \(between)")
        XCTAssertGreaterThan(between, 1e-3)
    }

    /// torch-fidelity's weights file is a plain dict of the same 472 tensors (utils/util_convert_inception_weights.py:
    /// the same names, conv weights permuted (3, 2, 0, 1), `fc.bias` kept, no `num_batches_tracked`): the loader's
    /// strict check accepts exactly that set, with or without the batch-norm counters.
    func testTorchFidelityWeightLayoutIsAccepted() throws {
        let source = InceptionWeights.synthetic(seed: 1)
        XCTAssertEqual(source.names.count, 472)
        XCTAssertTrue(source.names.contains("fc.bias"))
        XCTAssertNoThrow(try InceptionWeights.build(from: source))
        XCTAssertTrue(InceptionError.weightsNotFound(path: "/nope").description.contains(InceptionWeights.torchFidelityFileName))
    }
}
