import Foundation
import Imaging
import NPY
import XCTest

/// FNV-1a 64 of bytes (the generator hashes large float32 outputs the same way).
func fnv1a64(_ bytes: UnsafeRawBufferPointer) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes { h ^= UInt64(b); h = h &* 0x100_0000_01b3 }
    let s = String(h, radix: 16)
    return String(repeating: "0", count: 16 - s.count) + s
}

func floats(_ rel: String) throws -> (values: [Float], shape: [Int]) {
    let a = try NPY.read(path: fixture(rel))
    return (try a.floats(), a.shape)
}

/// Bitwise comparison of float arrays with a useful failure message (and the max abs difference).
func assertSameFloats(_ got: [Float], _ want: [Float], _ label: String, relTol: Float = 0,
                      file: StaticString = #filePath, line: UInt = #line) {
    guard got.count == want.count else {
        return XCTFail("\(label): \(got.count) values, expected \(want.count)", file: file, line: line)
    }
    var differ = 0, worst: Float = 0, first = ""
    for i in 0..<got.count where got[i].bitPattern != want[i].bitPattern {
        let d = abs(got[i] - want[i])
        if d > relTol * max(abs(want[i]), 1e-30) || d.isNaN {
            differ += 1
            if first.isEmpty { first = "first at \(i): \(got[i]) vs \(want[i])" }
        }
        worst = max(worst, d)
    }
    XCTAssertEqual(differ, 0, "\(label): \(differ) values differ (max abs \(worst)); \(first)", file: file, line: line)
}

final class ResizeTests: XCTestCase {
    var manifest: [String: Any] = [:]
    var sources: [String: RGBImage] = [:]

    override func setUpWithError() throws {
        manifest = try jsonObject("resize/manifest.json")
        for k in ["a", "b", "c"] { sources[k] = try ImageDecoder.decode(path: fixture("resize/src_\(k).png")) }
    }

    func cases(_ op: String) -> [[String: Any]] {
        ((manifest["cases"] as? [[String: Any]]) ?? []).filter { ($0["op"] as? String) == op }
    }

    /// Pillow's fixed-point resampling, all filters: bit-exact.
    func testPILResizeExact() throws {
        let cs = cases("pil_resize")
        XCTAssertEqual(cs.count, 25)
        for c in cs {
            let filter = try XCTUnwrap(PILFilter(rawValue: c["filter"] as! String))
            let w = c["width"] as! Int, h = c["height"] as! Int
            let got = try PILResize.resize(sources[c["src"] as! String]!, width: w, height: h, filter: filter)
            assertSameImage(got, try loadRGB("resize/\(c["expected"] as! String)"), "PIL \(filter) \(w)x\(h)")
        }
    }

    func testTorchvisionResizeAndCenterCropExact() throws {
        let a = sources["a"]!
        let ops: [(String, (RGBImage) throws -> RGBImage)] = [
            ("tv_resize_short40", { try TorchvisionTransforms.resizeShorterSide($0, to: 40) }),
            ("tv_resize_33x45", { try TorchvisionTransforms.resize($0, width: 45, height: 33) }),
            ("tv_centercrop_50", { try TorchvisionTransforms.centerCrop($0, width: 50, height: 50) }),
            ("tv_centercrop_80x120", { try TorchvisionTransforms.centerCrop($0, width: 120, height: 80) }),
            ("tv_centercrop_70x30", { try TorchvisionTransforms.centerCrop($0, width: 30, height: 70) }),
            ("tv_centercrop_60x96", { try TorchvisionTransforms.centerCrop($0, width: 96, height: 60) }),
        ]
        for (name, f) in ops {
            let c = try XCTUnwrap(cases(name).first, name)
            assertSameImage(try f(a), try loadRGB("resize/\(c["expected"] as! String)"), name)
        }
    }

    /// cv2.resize INTER_LINEAR on uint8 (OpenCV 4.12, x86): bit-exact with the default (every sample through the
    /// SIMD formula).
    func testOpenCVLinearExact() throws {
        let cs = cases("cv2_linear")
        XCTAssertEqual(cs.count, 8)
        for c in cs {
            let w = c["width"] as! Int, h = c["height"] as! Int
            let src = sources[c["src"] as! String]!
            let want = try loadRGB("resize/\(c["expected"] as! String)")
            assertSameImage(try OpenCVResize.resizeLinear(src, width: w, height: h), want, "cv2 \(src.width)x\(src.height)→\(w)x\(h)")
            // Builds that finish rows with the scalar formula differ by at most one level.
            for lanes in [0, 8, 16, 32] {
                assertSameImage(try OpenCVResize.resizeLinear(src, width: w, height: h, simdLanes16: lanes), want,
                                "cv2 lanes \(lanes) \(w)x\(h)", maxDiff: 1)
            }
        }
        for c in cases("albu_smallest_center") {
            let size = c["size"] as! Int
            let src = sources[c["src"] as! String]!
            let got = try Albumentations.centerCrop(try Albumentations.smallestMaxSize(src, maxSize: size), width: size, height: size)
            assertSameImage(got, try loadRGB("resize/\(c["expected"] as! String)"), "albumentations \(size)")
        }
    }

    /// F.interpolate(bilinear, align_corners=False) with ATen's AVX2/AVX-512 FMA pattern: bit-exact.
    func testInterpolateExact() throws {
        let a = sources["a"]!
        let x = TensorConversion.chw(a, scaling: .unit)
        for c in cases("interpolate") {
            let w = c["width"] as! Int, h = c["height"] as! Int
            let got = try Interpolate.bilinear(x, channels: 3, inHeight: a.height, inWidth: a.width, outHeight: h, outWidth: w)
            if let e = c["expected"] as? String {
                assertSameFloats(got, try floats("resize/\(e)").values, "interpolate \(w)x\(h)")
                // The other kernel, and no FMA (ATen's DEFAULT build), stay within float rounding.
                for k in [Interpolate.Kernel.generic, .channelsLast] {
                    let other = try Interpolate.bilinear(x, channels: 3, inHeight: a.height, inWidth: a.width,
                                                         outHeight: h, outWidth: w, kernel: k)
                    assertSameFloats(other, got, "interpolate \(k) \(w)x\(h)", relTol: 1e-6)
                }
                let nofma = try Interpolate.bilinear(x, channels: 3, inHeight: a.height, inWidth: a.width,
                                                     outHeight: h, outWidth: w, fma: false)
                assertSameFloats(nofma, got, "interpolate no-FMA \(w)x\(h)", relTol: 1e-6)
            } else {
                let step = c["row_step"] as! Int
                try checkHashAndRows(got, height: h, width: w, hash: c["fnv1a64"] as! String,
                                     rows: c["rows"] as! String, step: step, label: "interpolate 299")
            }
        }
    }

    func testInterpolateSameSizeIsACopy() throws {
        let x = TensorConversion.chw(sources["a"]!, scaling: .unit)
        XCTAssertEqual(try Interpolate.bilinear(x, channels: 3, inHeight: 61, inWidth: 97, outHeight: 61, outWidth: 97), x)
        XCTAssertThrowsError(try Interpolate.bilinear(x, channels: 3, inHeight: 60, inWidth: 97, outHeight: 9, outWidth: 9))
    }

    func checkHashAndRows(_ got: [Float], height h: Int, width w: Int, hash: String, rows: String, step: Int,
                          label: String) throws {
        let (want, shape) = try floats("resize/\(rows)")
        var sub: [Float] = []
        for c in 0..<3 { for y in stride(from: 0, to: h, by: step) { sub += got[(c * h + y) * w..<(c * h + y + 1) * w] } }
        XCTAssertEqual(shape, [3, (h + step - 1) / step, w])
        assertSameFloats(sub, want, "\(label) (sampled rows)")
        XCTAssertEqual(got.withUnsafeBytes { fnv1a64($0) }, hash, "\(label): hash of all values")
    }

    /// The family presets end to end from 8-bit pixels to the float32 model input.
    func testPresetsMatchUpstreamPipelines() throws {
        let ps = try XCTUnwrap(manifest["presets"] as? [[String: Any]])
        XCTAssertEqual(ps.count, 10)
        for p in ps {
            let name = p["preset"] as! String
            let preset = try XCTUnwrap(Preset.named(name), name)
            let src = sources[p["src"] as! String]!
            let x = try preset.tensor(src)
            if let e = p["expected"] as? String {
                let (want, shape) = try floats("resize/\(e)")
                XCTAssertEqual(shape, [3, preset.tensorSize!.height, preset.tensorSize!.width], name)
                assertSameFloats(x, want, "\(name) on \(p["src"]!)")
            } else {
                try checkHashAndRows(x, height: 299, width: 299, hash: p["fnv1a64"] as! String,
                                     rows: p["rows"] as! String, step: p["row_step"] as! Int, label: "\(name) on \(p["src"]!)")
            }
        }
    }

    func testOutputMappings() throws {
        let maps = try XCTUnwrap(manifest["mappings"] as? [String: [String: String]])
        let kinds: [String: OutputMapping] = [
            "symmetric": .symmetric, "unit": .unit,
            "rt_wrap": .unnormalize(mean: Preset.rtMean64, std: Preset.rtStd64, wrap: true),
            "rt_clamp": .unnormalize(mean: Preset.rtMean64, std: Preset.rtStd64, wrap: false),
        ]
        for (name, m) in maps {
            let (x, shape) = try floats("resize/\(m["input"]!)")
            let want = try NPY.read(path: fixture("resize/\(m["expected"]!)"))
            let got = try TensorConversion.pixels(chw: x, width: shape[2], height: shape[1], mapping: kinds[name]!)
            // Expected is CHW uint8; compare per plane.
            let w = try want.uint8s()
            var differ = 0
            for c in 0..<3 {
                for i in 0..<(shape[1] * shape[2]) {
                    let g = got.pixels[3 * i + c], e = w[c * shape[1] * shape[2] + i]
                    // NaN → uint8 is undefined in numpy/torch (and platform dependent); vqrt writes 0.
                    if x[c * shape[1] * shape[2] + i].isNaN { XCTAssertEqual(g, 0); continue }
                    if g != e { differ += 1 }
                }
            }
            XCTAssertEqual(differ, 0, "mapping \(name)")
        }
    }

    func testPresetNamesAndRoundTrips() throws {
        for n in Preset.names { XCTAssertNotNil(Preset.named(n), n) }
        XCTAssertEqual(Preset.named("ldm-vqgan@512")?.tensorSize?.height, 512)
        XCTAssertNil(Preset.named("ldm-vqgan@0"))
        XCTAssertNil(Preset.named("nope"))
        XCTAssertNil(Preset.named("vit-vqgan@12@3"))
        // vit-vqgan: mapping the input tensor back gives the prepared pixels exactly. ldm-vqgan: the float32
        // `(v / 127.5 - 1)` then `(x + 1) * 127.5` truncation loses one level for some values, which is why its
        // originals are the prepared pixels, not the round trip.
        let a = sources["a"]!
        for (name, slack) in [("vit-vqgan@48", 0), ("ldm-vqgan@48", 1)] {
            let p = Preset.named(name)!
            let prepared = try p.prepare(a)
            let back = try p.pixels(chw: try p.tensor(a), width: 48, height: 48)
            assertSameImage(back, prepared, "\(name) round trip", maxDiff: slack)
            XCTAssertEqual(try p.originals(a), prepared)
        }
        // rotation_trick's originals go through Normalize / unnormalize: at most one level below the pixels.
        let rt = Preset.named("rt-vqvae@48")!
        let prepared = try rt.prepare(a)
        let orig = try rt.originals(a)
        var lower = 0
        for i in 0..<orig.pixels.count {
            XCTAssertTrue(orig.pixels[i] == prepared.pixels[i] || orig.pixels[i] + 1 == prepared.pixels[i])
            if orig.pixels[i] != prepared.pixels[i] { lower += 1 }
        }
        XCTAssertGreaterThan(lower, 0, "the float64 unnormalize truncates some values one level down")
    }
}
