// LPIPS (alex, vgg, squeeze) against richzhang's `lpips` 0.1.4 package (version 0.1) on the same image pairs, with the
// package's own lin weights (bundled in Resources/lpips/v0.1) and synthetic backbones in torchvision's layout
// ("lpips-backbone v1": contract C4, seed 5, 4-d weights times float32(sqrt 2)): Fixtures/paper_metrics/lpips.json,
// tools/make_metric_fixtures.py.
import Foundation
import Imaging
import Models
import NN
import XCTest

/// lpips-backbone v1 for `net`.
final class SyntheticBackbone: WeightSource {
    let base: DeterministicWeightSource
    init(_ net: LPIPS.Net, extra: [(name: String, shape: [Int])] = []) {
        base = DeterministicWeightSource(seed: 5, tensors: LPIPSWeights.featureLayout(net) + extra)
    }
    var names: [String] { base.names }
    func tensor(named name: String) throws -> (shape: [Int], values: [Float])? {
        guard var t = try base.tensor(named: name) else { return nil }
        if t.shape.count == 4 {
            let gain = Float(2.0.squareRoot())
            for i in t.values.indices { t.values[i] *= gain }
        }
        return t
    }
}

final class LPIPSFixtureTests: XCTestCase {
    static let root = InceptionFixtures.root.deletingLastPathComponent()
    static let paper = InceptionFixtures.root.appendingPathComponent("paper_metrics")

    static func fixture() throws -> [String: Any] {
        let data = try Data(contentsOf: paper.appendingPathComponent("lpips.json"))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func bundledLinear(_ net: LPIPS.Net) throws -> WeightSource {
        try LPIPSWeights.checkpointWeights(path: root.appendingPathComponent(LPIPSWeights.bundledRelativePath(net)).path)
    }

    func testAlex() throws { try check(.alex) }
    func testVGG() throws { try check(.vgg) }
    func testSqueeze() throws { try check(.squeeze) }

    /// 1e-5 relative to the package's float64 run (the tolerance); its float32 run is printed beside.
    private func check(_ net: LPIPS.Net) throws {
        let j = try Self.fixture()
        let nets = try XCTUnwrap(j["nets"] as? [String: Any])
        let ref = try XCTUnwrap(nets[net.rawValue] as? [String: Any])
        let layout = try XCTUnwrap(ref["features_layout"] as? [[Any]])
        XCTAssertEqual(layout.map { $0[0] as! String }, LPIPSWeights.featureLayout(net).map(\.name))
        XCTAssertEqual(layout.map { $0[1] as! [Int] }, LPIPSWeights.featureLayout(net).map(\.shape))

        let model = try LPIPSWeights.build(net: net, backbone: SyntheticBackbone(net), linear: Self.bundledLinear(net))
        let want64 = try XCTUnwrap(ref["float64"] as? [Double]), want32 = try XCTUnwrap(ref["float32"] as? [Double])
        var worst = 0.0, torchOwn = 0.0
        for (i, name) in try XCTUnwrap(j["pairs"] as? [String]).enumerated() {
            let dir = Self.paper.appendingPathComponent("images")
            let a = try ImageDecoder.decode(path: dir.appendingPathComponent("\(name)_ref.png").path)
            let b = try ImageDecoder.decode(path: dir.appendingPathComponent("\(name)_dist.png").path)
            let d = try model(a, b)
            XCTAssertEqual(d, want64[i], accuracy: 1e-5 * abs(want64[i]), "\(net) \(name): vqrt \(d), lpips \(want64[i])")
            worst = max(worst, abs(d - want64[i]) / abs(want64[i]))
            torchOwn = max(torchOwn, abs(want32[i] - want64[i]) / abs(want64[i]))
            XCTAssertEqual(try model(a, a), 0, accuracy: 1e-7)
        }
        print("LPIPS-\(net): worst relative difference to lpips (float64) \(worst); lpips' own float32 error \(torchOwn)")
    }

    /// Two pairs in one call give each pair's own value (the pairs are batched through the backbone).
    func testBatchedPairs() throws {
        let model = try LPIPSWeights.build(net: .alex, backbone: SyntheticBackbone(.alex), linear: Self.bundledLinear(.alex))
        let dir = Self.paper.appendingPathComponent("images")
        let a1 = try ImageDecoder.decode(path: dir.appendingPathComponent("rocket_shift_ref.png").path)
        let b1 = try ImageDecoder.decode(path: dir.appendingPathComponent("rocket_shift_dist.png").path)
        let single = try model(a1, b1)
        let both = try model.distances(a: [a1, b1], b: [b1, a1])
        XCTAssertEqual(both[0], single, accuracy: 1e-6 * single)
        XCTAssertEqual(both[1], single, accuracy: 1e-6 * single)
    }

    func testLoaderErrors() throws {
        // torchvision's file also holds the classifier: allowed and ignored; any other key is refused.
        let withClassifier = SyntheticBackbone(.alex, extra: [("classifier.1.weight", [8, 4]), ("classifier.1.bias", [8])])
        XCTAssertNoThrow(try LPIPSWeights.build(net: .alex, backbone: withClassifier, linear: Self.bundledLinear(.alex)))
        let stray = SyntheticBackbone(.alex, extra: [("fc.weight", [8, 4])])
        XCTAssertThrowsError(try LPIPSWeights.build(net: .alex, backbone: stray, linear: Self.bundledLinear(.alex))) {
            XCTAssertTrue("\($0)".contains("fc.weight"), "\($0)")
        }
        // A VGG backbone given for alex: wrong shapes, named.
        XCTAssertThrowsError(try LPIPSWeights.build(net: .alex, backbone: SyntheticBackbone(.vgg), linear: Self.bundledLinear(.alex))) {
            XCTAssertTrue("\($0)".contains("alexnet-owt-7be5be79.pth"), "\($0)")
        }
        // The squeeze lin file for alex: missing lin5/lin6 are not asked, but shapes differ (lin1 192 vs 128).
        XCTAssertThrowsError(try LPIPSWeights.build(net: .alex, backbone: SyntheticBackbone(.alex), linear: Self.bundledLinear(.squeeze)))
        XCTAssertThrowsError(try LPIPSWeights.load(net: .vgg, backbonePath: "/nonexistent/vgg16.pth")) {
            let m = "\($0)"
            XCTAssertTrue(m.contains("vgg16-397923af.pth") && m.contains("download.pytorch.org") && m.contains("397923af"), m)
        }
        let model = try LPIPSWeights.build(net: .alex, backbone: SyntheticBackbone(.alex), linear: Self.bundledLinear(.alex))
        XCTAssertThrowsError(try model(RGBImage(width: 64, height: 64), RGBImage(width: 64, height: 65)))
        XCTAssertThrowsError(try model.distances(a: [], b: []))
        // Too small for AlexNet's first convolution and pools.
        XCTAssertThrowsError(try model(RGBImage(width: 8, height: 8), RGBImage(width: 8, height: 8)))
    }

    /// The bundled lin weights are the lpips 0.1.4 wheel's files, byte for byte.
    func testBundledLinearWeightsHashes() throws {
        for net in LPIPS.Net.allCases {
            let path = Self.root.appendingPathComponent(LPIPSWeights.bundledRelativePath(net)).path
            XCTAssertEqual(try InceptionWeights.sha256(path: path), LPIPSWeights.linearSHA256[net], "\(net)")
        }
    }
}
