import Foundation
import Imaging
import XCTest

final class BatchTests: XCTestCase {
    func testParallelBatchMatchesSequentialAndSkipsBadFiles() throws {
        let names = ["rgb_420.jpg", "bad_truncated.png", "palette8.png", "gray16.png", "bad_bomb.jpg", "cmyk_pil.jpg",
                     "missing.png", "rgba8_interlaced.png"]
        let paths = names.map { fixture("decode/\($0)") }
        let preset = try XCTUnwrap(Preset.named("vit-vqgan@32"))
        for threads in [1, 2, 0] {
            let b = BatchLoader.load(paths: paths, preset: preset, threads: threads, keepOriginals: true)
            XCTAssertEqual(b.count, 5)
            XCTAssertEqual(b.indices, [0, 2, 3, 5, 7])
            XCTAssertEqual(b.files, [0, 2, 3, 5, 7].map { paths[$0] })
            XCTAssertEqual(b.height, 32); XCTAssertEqual(b.width, 32)
            XCTAssertEqual(b.tensor.count, 5 * 3 * 32 * 32)
            XCTAssertEqual(b.failures.map(\.index), [1, 4, 6])
            XCTAssertEqual(b.failures.map { ($0.error as? ImagingError)?.kind }, [.truncated, .tooLarge, .io])
            for f in b.failures { XCTAssertTrue("\(f.error)".hasPrefix(f.path + ": "), "\(f.error)") }
            for (k, p) in b.files.enumerated() {
                let img = try ImageDecoder.decode(path: p)
                let x = try preset.tensor(img)
                XCTAssertEqual(Array(b.tensor[(k * 3072)..<((k + 1) * 3072)]), x, p)
                XCTAssertEqual(b.originals?[k], try preset.originals(img))
            }
        }
    }

    func testInceptionBatchAcceptsAnySizeAndNoResizeRequiresEqualSizes() throws {
        let paths = ["rgb8.png", "gray8.png", "rgb_1x1.jpg", "rgb8_1x1.png"].map { fixture("decode/\($0)") }
        let inc = BatchLoader.load(paths: paths, preset: .inception(), threads: 2)
        XCTAssertEqual(inc.count, 3)   // rgb_1x1.jpg does not exist (rgb_odd_1x1.jpg does)
        XCTAssertEqual(inc.height, 299)
        XCTAssertEqual(inc.tensor.count, 3 * 3 * 299 * 299)
        XCTAssertTrue(inc.tensor.allSatisfy { $0 >= -1 && $0 <= 1 })

        var raw = Preset.inception()
        raw.tensorResize = nil
        let same = BatchLoader.load(paths: [paths[0], paths[1], paths[0]], preset: raw)
        XCTAssertEqual(same.count, 2)
        XCTAssertEqual(same.indices, [0, 2])
        XCTAssertEqual((same.failures.first?.error as? ImagingError)?.kind, .sizeMismatch)
    }
}
