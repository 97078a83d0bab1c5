// OpenCV `cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)` for 8-bit 3-channel images, and the
// albumentations 0.4.x transforms built on it that taming-transformers / latent-diffusion use
// (`SmallestMaxSize(max_size)` + `CenterCrop(size, size)`).
//
// OpenCV's generic linear resize (imgproc/src/resize.cpp, `cv::hal::resize`, `resizeGeneric_`):
// - per axis: scale = 1 / (dst / src) in double; f = (float)((d + 0.5) * scale - 0.5); s = floor(f); f -= s;
//   on x, s < 0 → (s, f) = (0, 0) and s >= src - 1 → (src - 1, 0); on y, rows are clamped but weights kept.
// - weights (1 - f, f) become shorts: round-half-even(w * 2048).
// - horizontal pass in int: S[s] * a0 + S[s + 1] * a1 (exact).
// - vertical pass: the SIMD kernel (`VResizeLinearVec_32s8u`) computes
//   sat_u8((sat_s16(((S0 >> 4) * b0) >> 16 + ((S1 >> 4) * b1) >> 16) + 2) >> 2); OpenCV's scalar loop computes
//   sat_u8((S0 * b0 + S1 * b1 + 2^21) >> 22) instead, and the two can differ by one level. With OpenCV 4.12 on
//   x86 (opencv-python-headless 4.12.0.88, checked by the fixtures) every sample matches the SIMD formula, the
//   default here (`simdLanes16 = -1`). Older builds finished each row with the scalar loop: `simdLanes16 = 8`
//   (SSE2, 128-bit) or 16 (AVX2) reproduces that split; then the last samples of a row may differ by one level.
// - an exact 2x downscale on both axes is done by the "area fast" path instead: (a + b + c + d + 2) >> 2.
// - same size: a copy. (IPP is not used for 8-bit linear resizes unless cv::ipp::useIPP_NE() is set.)

public enum OpenCVResize {
    /// int16 lanes of the SIMD vertical pass, which decide how many trailing samples of a row use the scalar
    /// formula: -1 = none (OpenCV 4.12), 0 = all (no SIMD), 8 = 128-bit SIMD, 16 = AVX2.
    public static let defaultSIMDLanes16 = -1

    static let coefBits = 11
    static let coefScale: Float = 2048

    struct Axis {
        var offset: [Int]   // source index (x: already clamped; y: raw, clamped when used)
        var w0: [Int32]
        var w1: [Int32]
        var xmax: Int       // x only: first dst index computed with the right-edge copy (S * 2048)
    }

    static func axis(src: Int, dst: Int, isX: Bool) -> Axis {
        let invScale = Double(dst) / Double(src)
        let scale = 1.0 / invScale
        var a = Axis(offset: [], w0: [], w1: [], xmax: dst)
        for d in 0..<dst {
            var f = Float((Double(d) + 0.5) * scale - 0.5)
            var s = Int(f.rounded(.down))
            f -= Float(s)
            if isX {
                if s < 0 { f = 0; s = 0 }
                if s + 1 >= src {
                    a.xmax = min(a.xmax, d)
                    if s >= src - 1 { f = 0; s = src - 1 }
                }
            }
            a.offset.append(s)
            a.w0.append(Int32(clamping: Int(((1 - f) * coefScale).rounded(.toNearestOrEven))))
            a.w1.append(Int32(clamping: Int((f * coefScale).rounded(.toNearestOrEven))))
        }
        return a
    }

    @inline(__always) static func sat16(_ v: Int32) -> Int32 { min(max(v, -32768), 32767) }

    /// `cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR)` on an 8-bit RGB image.
    public static func resizeLinear(_ image: RGBImage, width: Int, height: Int,
                                    simdLanes16: Int = defaultSIMDLanes16) throws -> RGBImage {
        guard width > 0, height > 0, image.width > 0, image.height > 0 else {
            throw ImagingError(.invalidArgument, file: "<memory>",
                               "cannot resize \(image.width)x\(image.height) to \(width)x\(height)")
        }
        if width == image.width && height == image.height { return image }
        if image.width == 2 * width && image.height == 2 * height { return areaFast2x(image) }

        let ax = axis(src: image.width, dst: width, isX: true)
        let ay = axis(src: image.height, dst: height, isX: false)
        let sw = image.width, w3 = width * 3
        // Horizontal pass of the source rows the vertical pass reads (each computed once; rows are visited in
        // increasing order, so rows above the current one are released).
        var rows = [[Int32]?](repeating: nil, count: image.height)
        func hrow(_ y: Int) -> [Int32] {
            if let r = rows[y] { return r }
            var r = [Int32](repeating: 0, count: w3)
            image.pixels.withUnsafeBufferPointer { s in
                r.withUnsafeMutableBufferPointer { d in
                    let base = y * sw * 3
                    for dx in 0..<width {
                        let sx = base + ax.offset[dx] * 3
                        if dx < ax.xmax {
                            let a0 = ax.w0[dx], a1 = ax.w1[dx]
                            for c in 0..<3 { d[dx * 3 + c] = Int32(s[sx + c]) * a0 + Int32(s[sx + 3 + c]) * a1 }
                        } else {
                            for c in 0..<3 { d[dx * 3 + c] = Int32(s[sx + c]) * 2048 }
                        }
                    }
                }
            }
            rows[y] = r
            return r
        }
        // Which samples of a row the SIMD loops cover (OpenCV: a loop over v_uint8 lanes (= 2 x int16 lanes) while
        // x <= width - lanes8, then over int16 lanes while x < width - lanes16; the rest is scalar).
        let lanes16 = simdLanes16
        var simdEnd = lanes16 < 0 ? w3 : 0
        if lanes16 > 0 {
            let lanes8 = 2 * lanes16
            while simdEnd <= w3 - lanes8 { simdEnd += lanes8 }
            while simdEnd < w3 - lanes16 { simdEnd += lanes16 }
        }
        var out = [UInt8](repeating: 0, count: w3 * height)
        var lowest = 0
        for dy in 0..<height {
            let sy = ay.offset[dy]
            let y0 = min(max(sy, 0), image.height - 1), y1 = min(max(sy + 1, 0), image.height - 1)
            while lowest < y0 { rows[lowest] = nil; lowest += 1 }
            let r0 = hrow(y0), r1 = hrow(y1)
            let b0 = ay.w0[dy], b1 = ay.w1[dy]
            let o = dy * w3
            r0.withUnsafeBufferPointer { p0 in
                r1.withUnsafeBufferPointer { p1 in
                    out.withUnsafeMutableBufferPointer { ob in
                        for x in 0..<w3 {
                            let v: Int32
                            if x < simdEnd {
                                let q0 = (sat16(p0[x] >> 4) * b0) >> 16
                                let q1 = (sat16(p1[x] >> 4) * b1) >> 16
                                v = (sat16(q0 + q1) + 2) >> 2
                            } else {
                                v = (p0[x] &* b0 &+ p1[x] &* b1 &+ (1 << 21)) >> 22
                            }
                            ob[o + x] = v < 0 ? 0 : (v > 255 ? 255 : UInt8(v))
                        }
                    }
                }
            }
        }
        return RGBImage(unchecked: width, height, out)
    }

    /// OpenCV's INTER_AREA fast path for an exact 2x2 reduction: (a + b + c + d + 2) >> 2.
    static func areaFast2x(_ image: RGBImage) -> RGBImage {
        let w = image.width / 2, h = image.height / 2, sw3 = image.width * 3
        var out = [UInt8](repeating: 0, count: w * h * 3)
        image.pixels.withUnsafeBufferPointer { s in
            for y in 0..<h {
                let r0 = 2 * y * sw3, r1 = r0 + sw3
                for x in 0..<w {
                    for c in 0..<3 {
                        let i = 2 * x * 3 + c
                        let sum = Int(s[r0 + i]) + Int(s[r0 + i + 3]) + Int(s[r1 + i]) + Int(s[r1 + i + 3])
                        out[(y * w + x) * 3 + c] = UInt8((sum + 2) >> 2)
                    }
                }
            }
        }
        return RGBImage(unchecked: w, h, out)
    }
}

/// albumentations 0.4.x transforms used by taming-transformers `ImagePaths` (and latent-diffusion through it).
public enum Albumentations {
    /// `SmallestMaxSize(max_size)` (interpolation cv2.INTER_LINEAR): scale = max_size / min(w, h); each side
    /// becomes py3round(side * scale) (round half to even); no resize when scale == 1.
    public static func smallestMaxSize(_ image: RGBImage, maxSize: Int,
                                       simdLanes16: Int = OpenCVResize.defaultSIMDLanes16) throws -> RGBImage {
        let (w, h) = smallestMaxSizeOutput(width: image.width, height: image.height, maxSize: maxSize)
        if w == image.width && h == image.height { return image }
        return try OpenCVResize.resizeLinear(image, width: w, height: h, simdLanes16: simdLanes16)
    }

    public static func smallestMaxSizeOutput(width: Int, height: Int, maxSize: Int) -> (width: Int, height: Int) {
        let scale = Double(maxSize) / Double(min(width, height))
        if scale == 1.0 { return (width, height) }
        let h = Int((Double(height) * scale).rounded(.toNearestOrEven))
        let w = Int((Double(width) * scale).rounded(.toNearestOrEven))
        return (w, h)
    }

    /// `CenterCrop(height, width)`: top-left at ((H - h) // 2, (W - w) // 2); the crop must fit.
    public static func centerCrop(_ image: RGBImage, width: Int, height: Int) throws -> RGBImage {
        guard width <= image.width, height <= image.height, width > 0, height > 0 else {
            throw ImagingError(.invalidArgument, file: "<memory>",
                               "crop \(width)x\(height) larger than the \(image.width)x\(image.height) image")
        }
        return try TorchvisionTransforms.crop(image, left: (image.width - width) / 2, top: (image.height - height) / 2,
                                          width: width, height: height)
    }
}
