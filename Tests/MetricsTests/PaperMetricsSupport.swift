import Foundation
import Imaging
import XCTest

/// Fixtures/paper_metrics (written by tools/make_metric_fixtures.py).
enum PaperFixtures {
    static let directory: URL = MetricsFixtures.directory.deletingLastPathComponent().appendingPathComponent("paper_metrics")

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: directory.appendingPathComponent(name))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// The reference and distorted image of a fixture pair.
    static func pair(_ name: String) throws -> (RGBImage, RGBImage) {
        let dir = directory.appendingPathComponent("images")
        return (try ImageDecoder.decode(path: dir.appendingPathComponent("\(name)_ref.png").path),
                try ImageDecoder.decode(path: dir.appendingPathComponent("\(name)_dist.png").path))
    }
}

/// "fid-features v1" rows as float32, as tools/make_metric_fixtures.py `kid_features` hands them to torch-fidelity.
func fidFeatures32(_ set: String, n: Int, seed: UInt64, shift: Double, dim: Int) -> [Float] {
    fidFeatures(set, n: n, seed: seed, shift: shift, dim: dim).map { Float($0) }
}
