// The llamagen-vq and maskgit-vqgan presets against the upstream preprocessing code run by
// tools/make_imaging_fixtures.py --only family-presets (LlamaGen `center_crop_arr` + ToTensor + Normalize(0.5, 0.5);
// 1d-tokenizer `ImageTransform.eval_transform`), and Pillow's BOX / BICUBIC resizes, on photos and synthetic
// patterns: every value bit for bit (hash of all values, plus sampled rows to show where a difference is).

import Foundation
import Imaging
import NPY
import XCTest

final class FamilyPresetTests: XCTestCase {
    var manifest: [String: Any] = [:]
    var images: [String: RGBImage] = [:]

    /// `tools/make_imaging_fixtures.py` `synthetic_pattern(w, h)`.
    static func syntheticPattern(width w: Int, height h: Int) -> RGBImage {
        var px = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h {
            for x in 0..<w {
                for c in 0..<3 {
                    let v = x * (31 + 7 * c) + y * (17 + 5 * c) + ((x * y) >> 3) * (c + 1)
                    px[(y * w + x) * 3 + c] = UInt8(v & 255)
                }
            }
        }
        return try! RGBImage(width: w, height: h, pixels: px)
    }

    override func setUpWithError() throws {
        manifest = try jsonObject("family-presets/manifest.json")
        for s in try XCTUnwrap(manifest["sources"] as? [[String: Any]]) {
            let key = s["key"] as! String
            let img: RGBImage
            if key.hasPrefix("synthetic:") {
                img = Self.syntheticPattern(width: s["width"] as! Int, height: s["height"] as! Int)
            } else {
                img = try ImageDecoder.decode(path: fixture("family-presets/\(key)"))
            }
            XCTAssertEqual([img.width, img.height], [s["width"] as! Int, s["height"] as! Int], key)
            images[key] = img
        }
    }

    func sampledRows<T>(_ values: [T], planes: Int, height h: Int, rowLength: Int, step: Int) -> [T] {
        var out: [T] = []
        for c in 0..<planes { for y in stride(from: 0, to: h, by: step) { out += values[(c * h + y) * rowLength..<(c * h + y + 1) * rowLength] } }
        return out
    }

    func testPresetsMatchTheUpstreamPipelines() throws {
        let cases = try XCTUnwrap(manifest["presets"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 2 * images.count)
        for c in cases {
            let name = c["preset"] as! String, src = c["src"] as! String
            let preset = try XCTUnwrap(Preset.named(name))
            let x = try preset.tensor(try XCTUnwrap(images[src]))
            let step = c["row_step"] as! Int
            let (want, shape) = try floats("family-presets/\(c["rows"] as! String)")
            XCTAssertEqual(shape, [3, (256 + step - 1) / step, 256])
            XCTAssertEqual(x.count, 3 * 256 * 256, "\(name) on \(src)")
            guard x.count == 3 * 256 * 256 else { continue }
            assertSameFloats(sampledRows(x, planes: 3, height: 256, rowLength: 256, step: step), want, "\(name) on \(src) (sampled rows)")
            XCTAssertEqual(x.withUnsafeBytes { fnv1a64($0) }, c["fnv1a64"] as? String, "\(name) on \(src): hash of all values")
        }
    }

    func testPillowBoxAndBicubicOnPhotos() throws {
        let cases = try XCTUnwrap(manifest["resizes"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(cases.count, 30)
        for c in cases {
            let src = c["src"] as! String, w = c["width"] as! Int, h = c["height"] as! Int
            let filter = try XCTUnwrap(PILFilter(rawValue: c["filter"] as! String))
            let got = try PILResize.resize(try XCTUnwrap(images[src]), width: w, height: h, filter: filter)
            let label = "PIL \(filter) \(src) -> \(w)x\(h)"
            let step = c["row_step"] as! Int
            let want = try NPY.read(path: fixture("family-presets/\(c["rows"] as! String)"))
            XCTAssertEqual(sampledRows(got.pixels, planes: 1, height: h, rowLength: w * 3, step: step), try want.uint8s(), "\(label) (sampled rows)")
            XCTAssertEqual(got.pixels.withUnsafeBytes { fnv1a64($0) }, c["fnv1a64"] as? String, "\(label): hash")
        }
    }

    func testADMCropArithmetic() throws {
        // round(x * scale) halves to even on the float64 product; crop offsets are floor divisions.
        XCTAssertEqual(ADMTransforms.bicubicSize(width: 451, height: 300, imageSize: 256).width, 385)
        XCTAssertEqual(ADMTransforms.bicubicSize(width: 100, height: 70, imageSize: 256).width, 366)
        let img = Self.syntheticPattern(width: 513, height: 1024)
        let out = try ADMTransforms.centerCropArr(img, imageSize: 256)
        XCTAssertEqual([out.width, out.height], [256, 256])
        XCTAssertThrowsError(try ADMTransforms.centerCropArr(RGBImage(width: 0, height: 5), imageSize: 256))
        XCTAssertThrowsError(try ADMTransforms.centerCropArr(img, imageSize: 0))
        // A 1-pixel image upscales (no halving) and crops.
        XCTAssertEqual(try ADMTransforms.centerCropArr(Self.syntheticPattern(width: 1, height: 1), imageSize: 8).width, 8)
    }

    func testOutputMappingsOfTheTwoFamilies() throws {
        // LlamaGen: clamp(127.5 * x + 128, 0, 255) truncated, in float32; the originals round trip is exact.
        let l = Preset.llamagenVQ(resolution: 16)
        let img = Self.syntheticPattern(width: 40, height: 23)
        XCTAssertEqual(try l.originals(img), try l.prepare(img))
        var allBytes = [UInt8](repeating: 0, count: 256 * 3)
        for v in 0..<256 { for c in 0..<3 { allBytes[v * 3 + c] = UInt8(v) } }
        let ramp = try RGBImage(width: 256, height: 1, pixels: allBytes)
        let x = TensorConversion.chw(ramp, scaling: l.input)
        XCTAssertEqual(try l.pixels(chw: x, width: 256, height: 1), ramp, "every byte survives llamagen's round trip")
        let probe: [Float] = [-2, -1, -0.9999, 0, 0.5, 0.99999994, 1, 3, .nan, -0.0039215684, 0.0039215684]
        func map(_ m: OutputMapping, _ v: [Float]) throws -> [UInt8] {
            let chw = v + v + v
            return try TensorConversion.pixels(chw: chw, width: v.count, height: 1, mapping: m).pixels.enumerated()
                .filter { $0.offset % 3 == 0 }.map(\.element)
        }
        // 127.5 * -0.9999 + 128 = 0.5127 -> 0; 127.5 * 0.5 + 128 = 191.75 -> 191; 127.5 * -1/255 + 128 = 127.5 -> 127.
        XCTAssertEqual(try map(.symmetricOffset128, probe), [0, 0, 0, 128, 191, 255, 255, 255, 0, 127, 128])
        // 1d-tokenizer: torch.round(clamp(x, 0, 1) * 255), halves to even: 0.5 * 255 = 127.5 -> 128;
        // (1.5 / 255) * 255 and (2.5 / 255) * 255 are exactly 1.5 and 2.5 in float32 (numpy agrees): both -> 2.
        XCTAssertEqual(try map(.unitRounded, [0, 0.5, 1, 2, -1, .nan, Float(1.5) / 255, Float(2.5) / 255, 0.99999994]),
                       [0, 128, 255, 255, 0, 0, 2, 2, 255])
        XCTAssertEqual(Preset.named("maskgit-vqgan@128")?.tensorSize?.height, 128)
        XCTAssertEqual(Preset.named("llamagen-vq")?.output, .symmetricOffset128)
    }
}
