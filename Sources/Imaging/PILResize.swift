// Pillow's `Image.resize` for 8-bit images (libImaging/Resample.c), reproduced bit for bit.
//
// Pillow resamples separably with a convolution whose support grows with the downscale factor (that is its
// antialiasing): coefficients are computed in double, normalised to sum 1, converted to fixed point with 22
// fractional bits (rounded half away from zero), and each pass accumulates `pixel * coeff` in 32-bit integers
// starting from 1 << 21, then shifts right by 22 and clips to 0...255. The horizontal pass runs first, over only the
// source rows the vertical pass will read; if only one axis changes size only that pass runs.

import Foundation

/// Pillow's resampling filters (`PIL.Image.Resampling`), with Pillow's support radii.
public enum PILFilter: String, Sendable, CaseIterable {
    case box, bilinear, hamming, bicubic, lanczos

    var support: Double {
        switch self {
        case .box: return 0.5
        case .bilinear, .hamming: return 1.0
        case .bicubic: return 2.0
        case .lanczos: return 3.0
        }
    }

    func weight(_ x: Double) -> Double {
        switch self {
        case .box:
            return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0
        case .bilinear:
            let a = abs(x)
            return a < 1.0 ? 1.0 - a : 0.0
        case .hamming:
            let a = abs(x)
            if a == 0.0 { return 1.0 }
            if a >= 1.0 { return 0.0 }
            let p = a * Double.pi
            return sin(p) / p * (0.54 + 0.46 * cos(p))
        case .bicubic:
            // Keys cubic with a = -0.5, written as Pillow evaluates it.
            let a = -0.5
            let t = abs(x)
            if t < 1.0 { return ((a + 2.0) * t - (a + 3.0)) * t * t + 1 }
            if t < 2.0 { return (((t - 5) * t + 8) * t - 4) * a }
            return 0.0
        case .lanczos:
            if -3.0 <= x && x < 3.0 { return PILFilter.sinc(x) * PILFilter.sinc(x / 3.0) }
            return 0.0
        }
    }

    static func sinc(_ x: Double) -> Double {
        if x == 0.0 { return 1.0 }
        let p = x * Double.pi
        return sin(p) / p
    }
}

public enum PILResize {
    static let precisionBits = 32 - 8 - 2

    /// Fixed-point coefficients of one axis: for each output index, the first input index, the tap count and
    /// `ksize` coefficients (Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc`).
    struct Coefficients {
        var ksize: Int
        var bounds: [(min: Int, count: Int)]
        var kk: [Int32]
    }

    static func coefficients(inSize: Int, in0: Double, in1: Double, outSize: Int, filter: PILFilter) -> Coefficients {
        let scale = (in1 - in0) / Double(outSize)
        let filterscale = max(scale, 1.0)
        let support = filter.support * filterscale
        let ksize = Int(ceil(support)) * 2 + 1
        var bounds: [(Int, Int)] = []
        bounds.reserveCapacity(outSize)
        var kk = [Int32](repeating: 0, count: outSize * ksize)
        var k = [Double](repeating: 0, count: ksize)
        let ss = 1.0 / filterscale
        for xx in 0..<outSize {
            let center = in0 + (Double(xx) + 0.5) * scale
            var ww = 0.0
            // C casts truncate toward zero.
            var xmin = Int((center - support + 0.5).rounded(.towardZero))
            if xmin < 0 { xmin = 0 }
            var xmax = Int((center + support + 0.5).rounded(.towardZero))
            if xmax > inSize { xmax = inSize }
            xmax -= xmin
            for x in 0..<max(0, xmax) {
                let w = filter.weight((Double(x + xmin) - center + 0.5) * ss)
                k[x] = w
                ww += w
            }
            for x in 0..<ksize {
                var v = x < xmax ? k[x] : 0.0
                if x < xmax && ww != 0.0 { v /= ww }
                let scaled = v * Double(1 << precisionBits)
                kk[xx * ksize + x] = Int32((v < 0 ? -0.5 + scaled : 0.5 + scaled).rounded(.towardZero))
            }
            bounds.append((xmin, max(0, xmax)))
        }
        return Coefficients(ksize: ksize, bounds: bounds, kk: kk)
    }

    @inline(__always) static func clip8(_ v: Int32) -> UInt8 {
        let s = v >> Int32(precisionBits)   // arithmetic shift: floor
        return s < 0 ? 0 : (s > 255 ? 255 : UInt8(s))
    }

    /// `image.resize((width, height), filter)` as Pillow computes it for an 8-bit RGB image.
    public static func resize(_ image: RGBImage, width: Int, height: Int, filter: PILFilter) throws -> RGBImage {
        guard width > 0, height > 0, image.width > 0, image.height > 0 else {
            throw ImagingError(.invalidArgument, file: "<memory>",
                               "cannot resize \(image.width)x\(image.height) to \(width)x\(height)")
        }
        if width == image.width && height == image.height { return image }
        let needH = width != image.width
        let needV = height != image.height
        let ch = coefficients(inSize: image.width, in0: 0, in1: Double(image.width), outSize: width, filter: filter)
        var cv = coefficients(inSize: image.height, in0: 0, in1: Double(image.height), outSize: height, filter: filter)

        var current = image
        if needH {
            // Only the source rows that the vertical pass reads.
            let first = cv.bounds[0].min
            let last = cv.bounds[height - 1].min + cv.bounds[height - 1].count
            let rows = needV ? (first, last) : (0, image.height)
            if needV { for i in 0..<height { cv.bounds[i].min -= first } }
            current = horizontal(image, rows: rows.0..<rows.1, outWidth: width, coeffs: ch)
        }
        if needV {
            current = vertical(current, outHeight: height, coeffs: cv)
        }
        return current
    }

    static func horizontal(_ src: RGBImage, rows: Range<Int>, outWidth: Int, coeffs c: Coefficients) -> RGBImage {
        let h = rows.count
        var out = [UInt8](repeating: 0, count: outWidth * h * 3)
        let half = Int32(1 << (precisionBits - 1))
        src.pixels.withUnsafeBufferPointer { s in
            c.kk.withUnsafeBufferPointer { kk in
                out.withUnsafeMutableBufferPointer { o in
                    for (yy, y) in rows.enumerated() {
                        let rowIn = y * src.width * 3
                        let rowOut = yy * outWidth * 3
                        for xx in 0..<outWidth {
                            let (xmin, n) = c.bounds[xx]
                            let kb = xx * c.ksize
                            var s0 = half, s1 = half, s2 = half
                            for x in 0..<n {
                                let k = kk[kb + x]
                                let p = rowIn + (x + xmin) * 3
                                s0 &+= Int32(s[p]) &* k
                                s1 &+= Int32(s[p + 1]) &* k
                                s2 &+= Int32(s[p + 2]) &* k
                            }
                            o[rowOut + xx * 3] = clip8(s0)
                            o[rowOut + xx * 3 + 1] = clip8(s1)
                            o[rowOut + xx * 3 + 2] = clip8(s2)
                        }
                    }
                }
            }
        }
        return RGBImage(unchecked: outWidth, h, out)
    }

    static func vertical(_ src: RGBImage, outHeight: Int, coeffs c: Coefficients) -> RGBImage {
        let w3 = src.width * 3
        var out = [UInt8](repeating: 0, count: w3 * outHeight)
        let half = Int32(1 << (precisionBits - 1))
        src.pixels.withUnsafeBufferPointer { s in
            c.kk.withUnsafeBufferPointer { kk in
                out.withUnsafeMutableBufferPointer { o in
                    var acc = [Int32](repeating: 0, count: w3)
                    for yy in 0..<outHeight {
                        let (ymin, n) = c.bounds[yy]
                        let kb = yy * c.ksize
                        for i in 0..<w3 { acc[i] = half }
                        for y in 0..<n {
                            let k = kk[kb + y]
                            let row = (y + ymin) * w3
                            for i in 0..<w3 { acc[i] &+= Int32(s[row + i]) &* k }
                        }
                        let rowOut = yy * w3
                        for i in 0..<w3 { o[rowOut + i] = clip8(acc[i]) }
                    }
                }
            }
        }
        return RGBImage(unchecked: src.width, outHeight, out)
    }
}
