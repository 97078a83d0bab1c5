// TensorFlowResize against torch-fidelity's `interpolate_bilinear_2d_like_tensorflow1x` (torch-fidelity 0.4.0, CPU):
// bit for bit, compared through FNV-1a 64 of the float32 output bytes (Fixtures/paper_metrics/fidelity.json,
// tools/make_metric_fixtures.py), on the image files of Fixtures/inception and Fixtures/paper_metrics (photos,
// up- and downsampling, identity at 299) and on synthetic planes of other sizes.
import Foundation
import Imaging
import XCTest

final class TensorFlowResizeTests: XCTestCase {
    static let fidelity: [String: Any] = {
        let url = packageRoot.appendingPathComponent("Fixtures/paper_metrics/fidelity.json")
        guard let data = try? Data(contentsOf: url),
              let j = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
        return j
    }()

    static func fnv1a64(_ x: [Float]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for v in x {
            var bits = v.bitPattern.littleEndian
            withUnsafeBytes(of: &bits) { for b in $0 { h ^= UInt64(b); h = h &* 0x0000_0100_0000_01b3 } }
        }
        return h
    }

    func testImagesBitExact() throws {
        let files = try XCTUnwrap(Self.fidelity["files"] as? [String])
        let hashes = try XCTUnwrap(Self.fidelity["resize_fnv1a64"] as? [String])
        XCTAssertEqual(files.count, hashes.count)
        XCTAssertGreaterThanOrEqual(files.count, 12)
        let repo = packageRoot
        for (f, h) in zip(files, hashes) {
            let image = try ImageDecoder.decode(path: repo.appendingPathComponent(f).path)
            let x = TensorConversion.chw(image, scaling: .byte)
            let y = try TensorFlowResize.bilinear(x, channels: 3, inHeight: image.height, inWidth: image.width,
                                                  outHeight: 299, outWidth: 299)
            XCTAssertEqual(String(Self.fnv1a64(y)), h, "\(f) (\(image.width)x\(image.height))")
        }
    }

    func testOtherSizesBitExact() throws {
        for case let c as [String: Any] in try XCTUnwrap(Self.fidelity["resize_extra"] as? [Any]) {
            let size = try XCTUnwrap(c["in"] as? [Int]), out = try XCTUnwrap(c["out"] as? [Int])
            let h = size[0], w = size[1]
            let x = (0..<(3 * h * w)).map { i in Float(((Int64(i) * 2_654_435_761) >> 7) % 256) }
            let y = try TensorFlowResize.bilinear(x, channels: 3, inHeight: h, inWidth: w, outHeight: out[0], outWidth: out[1])
            XCTAssertEqual(String(Self.fnv1a64(y)), try XCTUnwrap(c["fnv1a64"] as? String), "\(size) -> \(out)")
        }
    }

    func testBadInput() {
        XCTAssertThrowsError(try TensorFlowResize.bilinear([1, 2, 3], channels: 1, inHeight: 2, inWidth: 2, outHeight: 4, outWidth: 4))
        XCTAssertThrowsError(try TensorFlowResize.bilinear([1], channels: 1, inHeight: 1, inWidth: 1, outHeight: 0, outWidth: 4))
    }
}
