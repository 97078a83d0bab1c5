import Foundation
import TestSupport
import NPY
import XCTest

/// Fixtures/inception (written by tools/make_inception_fixtures.py).
enum InceptionFixtures {
    static let root = PackagePaths.fixtures()
    static let directory = root.appendingPathComponent("inception")

    static let manifest: [String: Any] = {
        guard let data = try? Data(contentsOf: directory.appendingPathComponent("manifest.json")),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
        return obj
    }()

    /// Image paths in the order the references were computed (sorted file names).
    static var imagePaths: [String] {
        ((manifest["files"] as? [String]) ?? []).map { directory.appendingPathComponent("images/" + $0).path }
    }

    static func array(_ relative: String) throws -> NPYArray {
        try NPY.read(path: directory.appendingPathComponent(relative).path)
    }
}

/// Largest |a - b| over each row's largest |reference| (relative error per image, as spec/metrics.md §10 measures).
func maxRowRelativeError(_ a: [Float], _ reference: [Double], rows: Int) -> Double {
    let cols = reference.count / max(rows, 1)
    var worst = 0.0
    for r in 0..<rows {
        var scale = 0.0, err = 0.0
        for c in 0..<cols {
            scale = max(scale, abs(reference[r * cols + c]))
            err = max(err, abs(Double(a[r * cols + c]) - reference[r * cols + c]))
        }
        worst = max(worst, err / max(scale, 1e-30))
    }
    return worst
}

/// Largest elementwise |a - b| / |b| over entries with |b| above `floor` times the row maximum.
func maxElementRelativeError(_ a: [Float], _ reference: [Double], rows: Int, floor: Double = 1e-3) -> Double {
    let cols = reference.count / max(rows, 1)
    var worst = 0.0
    for r in 0..<rows {
        var scale = 0.0
        for c in 0..<cols { scale = max(scale, abs(reference[r * cols + c])) }
        for c in 0..<cols where abs(reference[r * cols + c]) > floor * scale {
            let ref = reference[r * cols + c]
            worst = max(worst, abs(Double(a[r * cols + c]) - ref) / abs(ref))
        }
    }
    return worst
}
