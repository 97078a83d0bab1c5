import Foundation
import Imaging
import NPY
import XCTest

final class DecodeTests: XCTestCase {
    /// Every PNG / JPEG variant decodes to exactly what PIL's `Image.open(p).convert("RGB")` gives.
    func testMatchesPILExactly() throws {
        let manifest = try jsonObject("decode/manifest.json")
        var checked = 0
        for (name, value) in manifest.sorted(by: { $0.key < $1.key }) {
            let entry = try XCTUnwrap(value as? [String: Any])
            if entry["bad"] as? Bool == true { continue }
            let img = try ImageDecoder.decode(path: fixture("decode/\(name)"))
            assertSameImage(img, try loadRGB("decode/\(name).rgb.npy"), "\(name) (PIL mode \(entry["mode"] ?? "?"))")
            checked += 1
        }
        XCTAssertGreaterThanOrEqual(checked, 40)
    }

    func testBadFilesThrowTypedErrors() throws {
        let expected: [String: ImagingError.Kind] = [
            "bad_truncated.png": .truncated, "bad_truncated.jpg": .truncated, "bad_garbage.png": .corrupt,
            "bad_not_image.png": .unsupported, "bad_bomb.png": .tooLarge, "bad_bomb.jpg": .tooLarge,
        ]
        for (name, kind) in expected {
            let path = fixture("decode/\(name)")
            XCTAssertThrowsError(try ImageDecoder.decode(path: path), name) { e in
                guard let e = e as? ImagingError else { return XCTFail("\(name): \(e)") }
                XCTAssertEqual(e.kind, kind, "\(name): \(e)")
                XCTAssertTrue(e.description.hasPrefix(path + ": "), "\(e)")
                XCTAssertFalse(e.description.contains("\n"))
            }
        }
        XCTAssertThrowsError(try ImageDecoder.decode(path: fixture("decode/missing.png"))) { e in
            XCTAssertEqual((e as? ImagingError)?.kind, .io)
        }
        XCTAssertThrowsError(try ImageDecoder.decode(path: fixture("decode"))) { e in
            XCTAssertEqual((e as? ImagingError)?.kind, .io)
        }
    }

    func testPixelCapIsConfigurable() throws {
        let path = fixture("decode/rgb8.png")   // 45x30
        XCTAssertNoThrow(try ImageDecoder.decode(path: path, maxPixels: 45 * 30))
        XCTAssertThrowsError(try ImageDecoder.decode(path: path, maxPixels: 45 * 30 - 1)) { e in
            XCTAssertEqual((e as? ImagingError)?.kind, .tooLarge)
        }
        XCTAssertThrowsError(try ImageDecoder.decode(path: fixture("decode/rgb_420.jpg"), maxPixels: 100)) { e in
            XCTAssertEqual((e as? ImagingError)?.kind, .tooLarge)
        }
    }

    /// Every prefix and many single-byte corruptions of real files: an error or an image, never a crash.
    func testFuzzedInputsNeverCrash() throws {
        for name in ["rgb8_interlaced.png", "palette4.png", "rgb_progressive.jpg", "ycck_adobe.jpg", "gray16.png"] {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixture("decode/\(name)"))))
            let full = try ImageDecoder.decode(bytes: bytes, name: name)
            var refused = 0, total = 0
            for n in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 150)) {
                total += 1
                // Like PIL, a PNG cut after its image data (in the last CRC or IEND) still decodes, and then fully.
                if let img = try? ImageDecoder.decode(bytes: Array(bytes[0..<n]), name: name) {
                    XCTAssertEqual(img, full, "\(name) prefix \(n) decoded to something else")
                    XCTAssertGreaterThan(n, bytes.count - 16, "\(name) prefix \(n) of \(bytes.count) decoded")
                } else { refused += 1 }
            }
            XCTAssertGreaterThan(refused, total - 3)
            var rng = SystemRandomNumberGenerator()
            for _ in 0..<150 {
                var b = bytes
                for _ in 0..<3 { b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
                if let img = try? ImageDecoder.decode(bytes: b, name: name) {
                    XCTAssertEqual(img.pixels.count, img.width * img.height * 3)
                }
            }
        }
    }
}

final class EncodeTests: XCTestCase {
    func testPNGRoundTrip() throws {
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let src = try loadRGB("decode/rgb_444.jpg.rgb.npy")
        let path = dir.appendingPathComponent("out.png").path
        try ImageEncoder.writePNG(src, to: path)
        XCTAssertEqual(try ImageDecoder.decode(path: path), src)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["out.png"])
        XCTAssertThrowsError(try ImageEncoder.writePNG(src, to: dir.appendingPathComponent("no/such/dir/x.png").path)) { e in
            XCTAssertEqual((e as? ImagingError)?.kind, .io)
        }
        let one = RGBImage(width: 1, height: 1)
        XCTAssertEqual(try ImageDecoder.decode(bytes: try ImageEncoder.encodePNG(one)), one)
    }
}
