// SSIM of a pair of 8-bit RGB images, as three implementations define it (each named after the one it matches):
//
// - `pytorch-msssim` (pytorch_msssim 1.0 `ssim(X, Y, data_range, win_size=11, win_sigma=1.5, K=(0.01, 0.03))`):
//   images as v/255 in [0, 1], separable Gaussian window (11 taps, sigma 1.5, `exp(-k²/2σ²)` normalised, computed
//   in float32 as pytorch_msssim does even for float64 images), valid
//   region only (no padding), SSIM map `(2μxμy + C1)/(μx² + μy² + C1) · (2σxy + C2)/(σx² + σy² + C2)` with
//   σ² = E[x²] - μ², mean over each channel's map, then over channels.
// - `torchmetrics` (torchmetrics 1.9 `StructuralSimilarityIndexMeasure(data_range=1.0)`, gaussian_kernel=True):
//   the same window and constants, but each image is first padded by 5 pixels with `F.pad(mode="reflect")` and the
//   map covers the full image (torchmetrics does not crop the padded border any more), σx², σy² are clamped at 0,
//   and the map is averaged over all channels and pixels at once. Its default `data_range=None` takes
//   max(range of preds, range of target) over the update batch; `dataRange: nil` reproduces that for a batch of one
//   pair.
// - `skimage` (scikit-image `structural_similarity(a, b, channel_axis=-1, data_range=R)`): 7×7 uniform window,
//   sample covariance (×49/48), pixels as they are ([0, 255] for 8-bit images, data_range 255), border of 3 cropped
//   (the valid region), mean per channel, then over channels. LlamaGen's evaluator calls it on [0, 1] images with
//   `data_range=2.0` (`StructuralSimilarity.llamaGen`).
//
// All arithmetic is float64 (the references run in float32 on float32 tensors; tools/make_metric_fixtures.py
// records their float64 runs, which agree with vqrt to ~1e-15, and the float32 ones, which differ by their own
// rounding). The filters are separable; SSIM is invariant under scaling both images and the data range together,
// so only the ratio matters, but the value scale is kept as each tool uses it.
import Foundation
import Imaging
import NPY
import Tensor

public enum SSIMVariant: String, CaseIterable, Sendable {
    case torchmetrics
    case pytorchMSSSIM = "pytorch-msssim"
    case skimage
}

public struct StructuralSimilarity: Sendable {
    public let variant: SSIMVariant
    /// Pixel v (0...255) enters as v / 255 * valueMaximum: 1 for torchmetrics and pytorch-msssim ([0, 1] tensors),
    /// 255 for skimage on uint8 arrays.
    public let valueMaximum: Double
    /// The data range L of C1 = (K1 L)², C2 = (K2 L)², in the same units (default: `valueMaximum`); nil only in
    /// `torchmetricsDataDerivedRange()`, torchmetrics' own default: max(max - min of either image).
    public let dataRange: Double?
    public static let k1 = 0.01, k2 = 0.03

    /// Each implementation as commonly called on 8-bit images: torchmetrics / pytorch-msssim on [0, 1] tensors with
    /// data range 1, skimage on uint8 arrays with data range 255.
    public init(variant: SSIMVariant, dataRange: Double? = nil, valueMaximum: Double? = nil) throws {
        let scale = valueMaximum ?? (variant == .skimage ? 255 : 1)
        let range = dataRange ?? scale
        guard scale.isFinite, scale > 0 else { throw MetricsError.invalidArgument("SSIM value scale \(scale)") }
        guard range.isFinite, range > 0 else { throw MetricsError.invalidArgument("SSIM data range \(range) must be positive") }
        self.variant = variant; self.valueMaximum = scale; self.dataRange = range
    }

    /// torchmetrics' own default, `data_range=None`: the range is taken from the images.
    public static func torchmetricsDataDerivedRange() -> StructuralSimilarity {
        StructuralSimilarity(unchecked: .torchmetrics, valueMaximum: 1, dataRange: nil)
    }

    /// LlamaGen's evaluator: skimage on [0, 1] images with data_range 2.0.
    public static let llamaGen = StructuralSimilarity(unchecked: .skimage, valueMaximum: 1, dataRange: 2)

    private init(unchecked variant: SSIMVariant, valueMaximum: Double, dataRange: Double?) {
        self.variant = variant; self.valueMaximum = valueMaximum; self.dataRange = dataRange
    }

    /// Window size of the variant (11 Gaussian, 7 uniform); images must be at least this large.
    public var windowSize: Int { variant == .skimage ? 7 : 11 }

    /// SSIM of one image pair.
    public func callAsFunction(_ a: RGBImage, _ b: RGBImage) throws -> Double {
        guard a.width == b.width, a.height == b.height else {
            throw MetricsError.shapeMismatch("SSIM of a \(a.width)x\(a.height) image against a \(b.width)x\(b.height) one")
        }
        let w = a.width, h = a.height
        guard w >= windowSize, h >= windowSize else {
            throw MetricsError.invalidArgument("SSIM (\(variant.rawValue)) needs images of at least \(windowSize)x\(windowSize), got \(w)x\(h)")
        }
        let range = dataRange ?? Self.dataDerivedRange(a, b, scale: valueMaximum / 255)
        let c1 = (Self.k1 * range) * (Self.k1 * range), c2 = (Self.k2 * range) * (Self.k2 * range)
        // The three channels are independent: one per worker of the kernels' thread team.
        var channelMeans = [Double](repeating: 0, count: 3)
        channelMeans.withUnsafeMutableBufferPointer { out in
            let means = out
            Threading.parallelChunks(3) { c in
                means[c] = channelSSIM(plane(a, c), plane(b, c), w, h, c1: c1, c2: c2)
            }
        }
        return (channelMeans[0] + channelMeans[1] + channelMeans[2]) / 3
    }

    private func plane(_ image: RGBImage, _ c: Int) -> [Double] {
        let s = valueMaximum / 255
        var out = [Double](repeating: 0, count: image.width * image.height)
        image.pixels.withUnsafeBufferPointer { p in
            for i in 0..<out.count {
                // v / 255 * max, as `to_tensor` (v/255) then the caller's scale; exact for the two usual scales.
                let v = Double(p[i * 3 + c])
                out[i] = valueMaximum == 255 ? v : (valueMaximum == 1 ? v / 255 : v * s)
            }
        }
        return out
    }

    private static func dataDerivedRange(_ a: RGBImage, _ b: RGBImage, scale: Double) -> Double {
        func range(_ p: [UInt8]) -> Double {
            guard let lo = p.min(), let hi = p.max() else { return 0 }
            return Double(hi) * scale - Double(lo) * scale
        }
        return Swift.max(range(a.pixels), range(b.pixels))
    }

    /// The 1-d window: 11 Gaussian taps (σ 1.5, normalised) or 7 uniform ones (1/7).
    private var taps: [Double] {
        if variant == .skimage { return [Double](repeating: 1.0 / 7, count: 7) }
        if variant == .pytorchMSSSIM {
            // `_fspecial_gauss_1d` builds the window in float32 whatever the images' dtype (`win.to(X.dtype)` only
            // widens it): exp(-(k²) / 4.5) in float32, divided by its float32 sum. The rounded taps do not sum to
            // exactly 1, which moves SSIM by ~1e-6 through σ² = E[x²] - μ²; so they are reproduced.
            let g = (0..<11).map { k -> Float in let c = Float(k - 5); return expf(-(c * c) / Float(4.5)) }
            let sum = Float(g.reduce(0.0) { $0 + Double($1) })
            return g.map { Double($0 / sum) }
        }
        let sigma = 1.5
        let g = (0..<11).map { k -> Double in let d = Double(k - 5); return exp(-(d * d) / (2 * sigma * sigma)) }
        let s = g.reduce(0, +)
        return g.map { $0 / s }
    }

    private func channelSSIM(_ x: [Double], _ y: [Double], _ w: Int, _ h: Int, c1: Double, c2: Double) -> Double {
        var x = x, y = y, w = w, h = h
        let k = taps, r = k.count / 2
        if variant == .torchmetrics {
            // F.pad(mode="reflect") by the window radius, so the valid filter covers the full image.
            x = Self.reflectPad(x, w, h, r); y = Self.reflectPad(y, w, h, r)
            w += 2 * r; h += 2 * r
        }
        let n = w * h
        var xx = [Double](repeating: 0, count: n), yy = xx, xy = xx
        for i in 0..<n { xx[i] = x[i] * x[i]; yy[i] = y[i] * y[i]; xy[i] = x[i] * y[i] }
        let ow = w - 2 * r, oh = h - 2 * r
        let filter: ([Double]) -> [Double] = variant == .skimage
            ? { Self.boxFilterValid($0, w, h, k.count) } : { Self.filterValid($0, w, h, k) }
        let mx = filter(x), my = filter(y), mxx = filter(xx), myy = filter(yy), mxy = filter(xy)
        var sum = 0.0
        switch variant {
        case .skimage:
            let np = Double(k.count * k.count), covNorm = np / (np - 1)
            for i in 0..<(ow * oh) {
                let ux = mx[i], uy = my[i]
                let vx = covNorm * (mxx[i] - ux * ux), vy = covNorm * (myy[i] - uy * uy), vxy = covNorm * (mxy[i] - ux * uy)
                let a1 = 2 * ux * uy + c1, a2 = 2 * vxy + c2, b1 = ux * ux + uy * uy + c1, b2 = vx + vy + c2
                sum += (a1 * a2) / (b1 * b2)
            }
        case .pytorchMSSSIM:
            for i in 0..<(ow * oh) {
                let m1 = mx[i], m2 = my[i]
                let s1 = mxx[i] - m1 * m1, s2 = myy[i] - m2 * m2, s12 = mxy[i] - m1 * m2
                let cs = (2 * s12 + c2) / (s1 + s2 + c2)
                sum += ((2 * m1 * m2 + c1) / (m1 * m1 + m2 * m2 + c1)) * cs
            }
        case .torchmetrics:
            for i in 0..<(ow * oh) {
                let m1 = mx[i], m2 = my[i]
                let s1 = Swift.max(mxx[i] - m1 * m1, 0), s2 = Swift.max(myy[i] - m2 * m2, 0), s12 = mxy[i] - m1 * m2
                let upper = 2 * s12 + c2, lower = s1 + s2 + c2
                sum += ((2 * m1 * m2 + c1) * upper) / ((m1 * m1 + m2 * m2 + c1) * lower)
            }
        }
        return sum / Double(ow * oh)
    }

    /// Separable valid correlation with `k` along rows, then columns: [(h-2r), (w-2r)].
    static func filterValid(_ src: [Double], _ w: Int, _ h: Int, _ k: [Double]) -> [Double] {
        let t = k.count, ow = w - t + 1, oh = h - t + 1
        // Both passes accumulate tap after tap (out += k_j * shifted input), a loop the compiler vectorises; each
        // output still sums its taps in order j = 0, 1, ...
        var rows = [Double](repeating: 0, count: h * ow)
        src.withUnsafeBufferPointer { s in
            rows.withUnsafeMutableBufferPointer { o in
                for yIndex in 0..<h {
                    let line = s.baseAddress! + yIndex * w, out = o.baseAddress! + yIndex * ow
                    for j in 0..<t {
                        let kj = k[j], shifted = line + j
                        for xIndex in 0..<ow { out[xIndex] += kj * shifted[xIndex] }
                    }
                }
            }
        }
        var out = [Double](repeating: 0, count: oh * ow)
        rows.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { o in
                for yIndex in 0..<oh {
                    let dst = o.baseAddress! + yIndex * ow
                    for j in 0..<t {
                        let kj = k[j], line = s.baseAddress! + (yIndex + j) * ow
                        for xIndex in 0..<ow { dst[xIndex] += kj * line[xIndex] }
                    }
                }
            }
        }
        return out
    }

    /// The mean over each valid t×t window (scipy's `uniform_filter` on the valid region) by running sums: exact
    /// for 8-bit pixel values and their products (integers in float64), then one division by t².
    static func boxFilterValid(_ src: [Double], _ w: Int, _ h: Int, _ t: Int) -> [Double] {
        let ow = w - t + 1, oh = h - t + 1
        var rows = [Double](repeating: 0, count: h * ow)
        src.withUnsafeBufferPointer { s in
            rows.withUnsafeMutableBufferPointer { o in
                for yIndex in 0..<h {
                    let line = s.baseAddress! + yIndex * w, out = o.baseAddress! + yIndex * ow
                    var sum = 0.0
                    for j in 0..<t { sum += line[j] }
                    out[0] = sum
                    for xIndex in 1..<max(ow, 1) { sum += line[xIndex + t - 1] - line[xIndex - 1]; out[xIndex] = sum }
                }
            }
        }
        var out = [Double](repeating: 0, count: oh * ow)
        let area = Double(t * t)
        rows.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { o in
                let r = s.baseAddress!, d = o.baseAddress!
                var sums = [Double](repeating: 0, count: ow)
                for j in 0..<t { for xIndex in 0..<ow { sums[xIndex] += r[j * ow + xIndex] } }
                for yIndex in 0..<oh {
                    if yIndex > 0 {
                        let add = r + (yIndex + t - 1) * ow, sub = r + (yIndex - 1) * ow
                        for xIndex in 0..<ow { sums[xIndex] += add[xIndex] - sub[xIndex] }
                    }
                    for xIndex in 0..<ow { d[yIndex * ow + xIndex] = sums[xIndex] / area }
                }
            }
        }
        return out
    }

    /// torch's reflect padding (mirror without repeating the edge): index -i -> i, w-1+i -> w-1-i.
    static func reflectPad(_ src: [Double], _ w: Int, _ h: Int, _ p: Int) -> [Double] {
        let pw = w + 2 * p, ph = h + 2 * p
        func mirror(_ i: Int, _ n: Int) -> Int { i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i) }
        var out = [Double](repeating: 0, count: pw * ph)
        for yy in 0..<ph {
            let sy = mirror(yy - p, h)
            for xx in 0..<pw { out[yy * pw + xx] = src[sy * w + mirror(xx - p, w)] }
        }
        return out
    }
}

/// A mean of per-pair values (SSIM, LPIPS) over a run, mergeable across shards: float64 sum and count.
public struct PairMean: MergeableAccumulator, Sendable, Equatable {
    public private(set) var sum = 0.0
    public private(set) var count = 0

    public init() {}

    public mutating func add(_ value: Double) throws {
        guard value.isFinite else { throw MetricsError.notFinite("per-pair value \(value)") }
        sum += value
        count += 1
    }

    /// nil before any pair.
    public var mean: Double? { count > 0 ? sum / Double(count) : nil }

    public mutating func merge(_ other: PairMean) throws { sum += other.sum; count += other.count }

    public func archived(prefix: String) throws -> [(String, NPYArray)] {
        [(prefix + "sum", try NPYArray(doubles: [sum], shape: [])), (prefix + "count", try NPYArray(int64s: [Int64(count)], shape: []))]
    }

    public init(archive: NPZArchive, prefix: String, file: String) throws {
        let s = try archive.array(prefix + "sum", file: file).doubles()
        let c = try archive.array(prefix + "count", file: file).int64s()
        guard s.count == 1, c.count == 1, c[0] >= 0, s[0].isFinite else {
            throw MetricsError.badFile(file: file, message: "pair mean '\(prefix)' is malformed")
        }
        sum = s[0]; count = Int(c[0])
    }
}
