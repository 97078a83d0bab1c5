import Foundation
import TestSupport
import Imaging
import NPY
import XCTest

let packageRoot = PackagePaths.root

let imagingFixtures = packageRoot.appendingPathComponent("Fixtures/imaging")

func fixture(_ rel: String) -> String { imagingFixtures.appendingPathComponent(rel).path }

/// A uint8 HxWx3 .npy as an RGBImage.
func loadRGB(_ rel: String) throws -> RGBImage {
    let a = try NPY.read(path: fixture(rel))
    guard a.shape.count == 3, a.shape[2] == 3 else { throw NPYError(.badHeader, file: rel, "not HxWx3: \(a.shape)") }
    return try RGBImage(width: a.shape[1], height: a.shape[0], pixels: try a.uint8s())
}

func jsonObject(_ rel: String) throws -> [String: Any] {
    let data = try Data(contentsOf: URL(fileURLWithPath: fixture(rel)))
    return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
}

/// Asserts exact equality of two images, reporting the first differences.
func assertSameImage(_ got: RGBImage, _ want: RGBImage, _ label: String, maxDiff: Int = 0,
                     file: StaticString = #filePath, line: UInt = #line) {
    guard got.width == want.width, got.height == want.height else {
        XCTFail("\(label): size \(got.width)x\(got.height) != \(want.width)x\(want.height)", file: file, line: line)
        return
    }
    var worst = 0, count = 0, first = ""
    for i in 0..<got.pixels.count {
        let d = abs(Int(got.pixels[i]) - Int(want.pixels[i]))
        if d > 0 {
            count += 1
            if first.isEmpty {
                let p = i / 3
                first = "first at (x \(p % got.width), y \(p / got.width), c \(i % 3)): \(got.pixels[i]) vs \(want.pixels[i])"
            }
        }
        worst = max(worst, d)
    }
    XCTAssertLessThanOrEqual(worst, maxDiff, "\(label): \(count) samples differ, max \(worst); \(first)", file: file, line: line)
}

func tempDirectory() -> URL {
    let u = URL(fileURLWithPath: NSTemporaryDirectory())
        .appendingPathComponent("imagingtests-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    try? FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
    return u
}
