// Winograd F(4×4, 3×3) for 3×3 stride-1 convolutions, for CPUs where oneDNN has no Winograd kernel (its own need
// AVX-512; on AVX2 machines such as AMD EPYC it offers direct convolutions only).
//
// Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (2016), with the interpolation points
// 0, ±1, ±2, ∞ that oneDNN's F(4×4, 3×3) uses. Each 4×4 block of output pixels ("tile") is computed from the 6×6
// input patch around it as  Y = Aᵀ [ U ⊙ V ] A  with  U = G g Gᵀ  (the 3×3 kernel, transformed once, or on
// every call for layers whose U would be large)
// and  V = Bᵀ d B  (the patch). Summed over input channels, the 36 element-wise products become 36 independent
// matrix products  M[ξν] = V[ξν] · U[ξν]  of shapes [tiles × in] · [in × out], which run as one batched oneDNN
// matmul near the GEMM peak. Per output pixel that is 36·in·out/16 multiply-adds instead of 9·in·out: 4× fewer.
//
// Rounding: the transforms scale values by up to ~10 (the ±2 points) before the products, so the float32 error is a
// few times the direct convolution's; measured on the model conformance fixtures it stays within the faithfulness
// tolerance (4× PyTorch's own float32 error), as oneDNN's F(4×4, 3×3) does. U is computed in float64.
//
// Activations are nChw16c (16 channels per vector); tiles are processed in chunks whose transformed inputs and
// products (36 matrices each) stay within a few MB, so they are still in cache when the matmul and the output
// transform read them.
import Foundation

final class WinogradConvolution: @unchecked Sendable {
    let inChannels: Int
    let outChannels: Int
    /// Channel counts rounded up to whole 16-channel blocks (the nChw16c padding, zero).
    let inPadded: Int
    let outPadded: Int
    let padding: Padding2D
    /// U: [36][inPadded][outPadded], the transformed kernels (zero rows/columns for padding channels), kept from
    /// the start, or computed on each call from the plain kernels (`transformedPerCall`).
    private enum Weights {
        case transformed(TensorStorage)
        case plain(TensorStorage)
    }
    private let weights: Weights
    /// The bias over outPadded channels (zeros where the convolution has none).
    private let bias: TensorStorage

    /// Whether U is computed on each call (into a buffer that lives for the call) instead of once.
    var transformedPerCall: Bool {
        if case .plain = weights { return true }
        return false
    }

    /// Bytes of transformed input (36 matrices) per chunk of tiles: large enough for the batched matmul to run near
    /// the GEMM peak, small enough for the products to stay in cache for the output transform.
    static let chunkBytes = 8 << 20

    /// - Parameters:
    ///   - weight: PyTorch's `[out, in, 3, 3]` in C order; with `transformPerCall` it must stay unchanged for the
    ///     kernel's life (it is read again on every call).
    ///   - bias: `out` values or nil.
    ///   - transformPerCall: keep only the plain kernels and transform them on every call. U is 4x the size of
    ///     the plain kernels (38 MB for 512->512); transforming a layer's kernels costs a small fraction of
    ///     what Winograd saves on one image of such a layer at 64x64, so large layers pay it rather than hold U.
    init(weight: TensorStorage, inChannels: Int, outChannels: Int, bias: UnsafePointer<Float>?, padding: Padding2D,
         transformPerCall: Bool = false) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        inPadded = (inChannels + 15) / 16 * 16
        outPadded = (outChannels + 15) / 16 * 16
        self.padding = padding
        if transformPerCall {
            weights = .plain(weight)
        } else {
            let u = TensorStorage(zeros: 36 * inPadded * outPadded)
            WinogradConvolution.transformWeights(weight.pointer, inChannels: inChannels, outChannels: outChannels,
                                                 into: u.pointer, inPadded: inPadded, outPadded: outPadded)
            weights = .transformed(u)
        }
        let b = TensorStorage(zeros: outPadded)
        if let bias { b.pointer.update(from: bias, count: outChannels) }
        self.bias = b
    }

    /// U = G·k·Gᵀ for every (input c, output o) kernel k, into `u` ([36][inPadded][outPadded]; entry (c, o) of
    /// matrix ξν). Computed in float64 (products with 1/4, 1/6, 1/12, 1/24 rounded once, to float32, at the end),
    /// eight output channels at a time; padding entries are left as they are.
    static func transformWeights(_ weight: UnsafePointer<Float>, inChannels: Int, outChannels: Int,
                                 into u: UnsafeMutablePointer<Float>, inPadded ip: Int, outPadded op: Int) {
        typealias D8 = SIMD8<Double>
        let matrix = ip * op
        parallelFor(inChannels) { range in
            for c in range {
                for o in stride(from: 0, to: outChannels, by: 8) {
                    let lanes = Swift.min(8, outChannels - o)
                    // The 9 taps of kernels (o ..< o+8, c), one vector per tap.
                    var k = (D8(), D8(), D8(), D8(), D8(), D8(), D8(), D8(), D8())
                    withUnsafeMutableBytes(of: &k) { raw in
                        let taps = raw.baseAddress!.assumingMemoryBound(to: Double.self)
                        for l in 0..<lanes {
                            let src = weight + ((o + l) * inChannels + c) * 9
                            for t in 0..<9 { taps[t * 8 + l] = Double(src[t]) }
                        }
                    }
                    // G·k (6×3) column by column, then each row of it times Gᵀ.
                    let c0 = kernelRows(k.0, k.3, k.6), c1 = kernelRows(k.1, k.4, k.7), c2 = kernelRows(k.2, k.5, k.8)
                    let base = u + c * op + o
                    @inline(__always) func put(_ value: D8, _ at: UnsafeMutablePointer<Float>) {
                        let f = SIMD8<Float>(value)
                        if lanes == 8 {
                            UnsafeMutableRawPointer(at).storeBytes(of: f, as: SIMD8<Float>.self)
                        } else {
                            for l in 0..<lanes { at[l] = f[l] }
                        }
                    }
                    @inline(__always) func store(_ i: Int, _ a: D8, _ b: D8, _ c: D8) {
                        let v = kernelRows(a, b, c)
                        let row = base + i * 6 * matrix
                        put(v.0, row); put(v.1, row + matrix); put(v.2, row + 2 * matrix)
                        put(v.3, row + 3 * matrix); put(v.4, row + 4 * matrix); put(v.5, row + 5 * matrix)
                    }
                    store(0, c0.0, c1.0, c2.0); store(1, c0.1, c1.1, c2.1); store(2, c0.2, c1.2, c2.2)
                    store(3, c0.3, c1.3, c2.3); store(4, c0.4, c1.4, c2.4); store(5, c0.5, c1.5, c2.5)
                }
            }
        }
    }

    /// G·(k0, k1, k2) for one column (or row) of 3×3 kernels; G (6×3) belongs to the points 0, ±1, ±2, ∞.
    @inline(__always)
    private static func kernelRows(_ k0: SIMD8<Double>, _ k1: SIMD8<Double>, _ k2: SIMD8<Double>)
        -> (SIMD8<Double>, SIMD8<Double>, SIMD8<Double>, SIMD8<Double>, SIMD8<Double>, SIMD8<Double>) {
        let sixth = 1.0 / 6, twelfth = 1.0 / 12, twentyFourth = 1.0 / 24
        // Rows 1-2 (points ±1) and 3-4 (points ±2) share their even parts.
        let evenAtOne = k0 + k2, evenAtTwo = k0 * twentyFourth + k2 * sixth
        return (k0 * 0.25, -(evenAtOne + k1) * sixth, -(evenAtOne - k1) * sixth,
                evenAtTwo + k1 * twelfth, evenAtTwo - k1 * twelfth, k2)
    }

    /// Output size for an input of `h`×`w`.
    func outputSize(h: Int, w: Int) -> (h: Int, w: Int) {
        (h + padding.top + padding.bottom - 2, w + padding.left + padding.right - 2)
    }

    /// The convolution of `x` ([N, in, H, W] in nChw16c), plus `residual` (same shape as the output, nChw16c)
    /// if given; the result is nChw16c.
    func callAsFunction(_ x: Tensor, residual: Tensor?) throws -> Tensor {
        precondition(x.layout == .nChw16c && residual.map { $0.layout == .nChw16c } ?? true)
        let n = x.shape[0], h = x.shape[2], w = x.shape[3]
        let (oh, ow) = outputSize(h: h, w: w)
        let th = (oh + 3) / 4, tw = (ow + 3) / 4
        let tilesPerImage = th * tw
        let inBlocks = inPadded / 16, outBlocks = outPadded / 16
        // Chunks never span two images: every image is cut into the same chunks, and so meets the same matrix
        // products, whatever batch it comes in (results do not depend on the batch size).
        let chunk = Swift.max(16, Swift.min(tilesPerImage, WinogradConvolution.chunkBytes / (36 * Swift.max(inPadded, outPadded) * 4)))
        let v = TensorStorage(uninitialized: 36 * chunk * inPadded)
        let m = TensorStorage(uninitialized: 36 * chunk * outPadded)
        let out = Tensor(uninitialized: [n, outChannels, oh, ow], layout: .nChw16c)
        let geometry = Geometry(h: h, w: w, oh: oh, ow: ow, tilesPerRow: tw, tilesPerImage: th * tw,
                                top: padding.top, left: padding.left)
        let transformed: TensorStorage
        switch weights {
        case .transformed(let u): transformed = u
        case .plain(let plain):
            let padded = inPadded != inChannels || outPadded != outChannels
            transformed = padded ? TensorStorage(zeros: 36 * inPadded * outPadded)
                                 : TensorStorage(uninitialized: 36 * inPadded * outPadded)
            WinogradConvolution.transformWeights(plain.pointer, inChannels: inChannels, outChannels: outChannels,
                                                 into: transformed.pointer, inPadded: inPadded, outPadded: outPadded)
        }
        let u = MatrixView(pointer: transformed.pointer, dims: [36, inPadded, outPadded],
                           strides: [inPadded * outPadded, outPadded, 1])
        defer { withExtendedLifetime(transformed) {} }   // u points into it
        for (image, first) in (0..<n).flatMap({ i in stride(from: 0, to: tilesPerImage, by: chunk).map { (i, $0) } }) {
            let start = image * tilesPerImage + first
            let count = Swift.min(chunk, tilesPerImage - first)
            parallelFor(count * inBlocks, grain: 8) { range in
                for i in range {
                    self.transformInput(x, block: i % inBlocks, tile: start + i / inBlocks, geometry,
                                        into: v.pointer + (i / inBlocks) * self.inPadded + (i % inBlocks) * 16,
                                        stride: chunk * self.inPadded)
                }
            }
            try stridedMatmul(MatrixView(pointer: v.pointer, dims: [36, count, inPadded],
                                         strides: [chunk * inPadded, inPadded, 1]),
                              u,
                              into: MatrixView(pointer: m.pointer, dims: [36, count, outPadded],
                                               strides: [chunk * outPadded, outPadded, 1]),
                              alpha: 1, profiled: false)
            parallelFor(count * outBlocks, grain: 8) { range in
                for i in range {
                    self.transformOutput(m.pointer + (i / outBlocks) * self.outPadded + (i % outBlocks) * 16,
                                         stride: chunk * self.outPadded, block: i % outBlocks,
                                         tile: start + i / outBlocks, geometry, residual: residual, into: out)
                }
            }
        }
        return out
    }

    private struct Geometry {
        let h: Int, w: Int, oh: Int, ow: Int
        let tilesPerRow: Int, tilesPerImage: Int
        let top: Int, left: Int
    }

    /// Bᵀ·(d0 … d5) for one column (or row) of a 6×6 patch.
    @inline(__always)
    private static func inputRows(_ d: UnsafeMutablePointer<Vec16>, _ s: Int) -> (Vec16, Vec16, Vec16, Vec16, Vec16, Vec16) {
        let d0 = d[0], d1 = d[s], d2 = d[2 * s], d3 = d[3 * s], d4 = d[4 * s], d5 = d[5 * s]
        let a = d4 - 4 * d2, b = d3 - 4 * d1   // shared by rows 1 and 2
        let c = d4 - d2, e = 2 * (d3 - d1)     // shared by rows 3 and 4
        return (4 * d0 - 5 * d2 + d4, a + b, a - b, c + e, c - e, 4 * d1 - 5 * d3 + d5)
    }

    /// V = Bᵀ d B for the 6×6 input patch of `tile`, 16 channels of `block`, written to the 36 matrices (row `tile`
    /// of each; consecutive matrices `stride` floats apart).
    private func transformInput(_ x: Tensor, block: Int, tile: Int, _ g: Geometry,
                                into dst: UnsafeMutablePointer<Float>, stride: Int) {
        let image = tile / g.tilesPerImage, r = tile % g.tilesPerImage
        let y0 = (r / g.tilesPerRow) * 4 - g.top, x0 = (r % g.tilesPerRow) * 4 - g.left
        let plane = x.pointer + ((image * (inPadded / 16) + block) * g.h * g.w) * 16
        withUnsafeTemporaryAllocation(of: Vec16.self, capacity: 36) { buffer in
            let d = buffer.baseAddress!
            if y0 >= 0, x0 >= 0, y0 + 6 <= g.h, x0 + 6 <= g.w {
                for i in 0..<6 {
                    let row = plane + ((y0 + i) * g.w + x0) * 16
                    for j in 0..<6 { d[i * 6 + j] = loadVec(row + j * 16) }
                }
            } else {
                for i in 0..<6 {
                    let y = y0 + i
                    for j in 0..<6 {
                        let xx = x0 + j
                        d[i * 6 + j] = y >= 0 && y < g.h && xx >= 0 && xx < g.w ? loadVec(plane + (y * g.w + xx) * 16) : Vec16()
                    }
                }
            }
            // Columns: Bᵀ·d, in place.
            for j in 0..<6 {
                let (r0, r1, r2, r3, r4, r5) = WinogradConvolution.inputRows(d + j, 6)
                d[j] = r0; d[6 + j] = r1; d[12 + j] = r2; d[18 + j] = r3; d[24 + j] = r4; d[30 + j] = r5
            }
            // Rows: (Bᵀ·d)·B, straight to the matrices.
            for i in 0..<6 {
                let (c0, c1, c2, c3, c4, c5) = WinogradConvolution.inputRows(d + i * 6, 1)
                let base = dst + (i * 6) * stride
                storeVec(c0, base); storeVec(c1, base + stride); storeVec(c2, base + 2 * stride)
                storeVec(c3, base + 3 * stride); storeVec(c4, base + 4 * stride); storeVec(c5, base + 5 * stride)
            }
        }
    }

    /// Aᵀ·(m0 … m5) for one column (or row) of a 6×6 product.
    @inline(__always)
    private static func outputRows(_ m0: Vec16, _ m1: Vec16, _ m2: Vec16, _ m3: Vec16, _ m4: Vec16,
                                   _ m5: Vec16) -> (Vec16, Vec16, Vec16, Vec16) {
        let a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4
        return (m0 + a + c, b + 2 * d, a + 4 * c, b + 8 * d + m5)
    }

    /// Y = Aᵀ M A (+ bias, + residual) for `tile`, 16 output channels of `block`, read from row `tile` of the 36
    /// product matrices; writes the pixels of the tile that lie inside the output.
    private func transformOutput(_ src: UnsafeMutablePointer<Float>, stride: Int, block: Int, tile: Int,
                                 _ g: Geometry, residual: Tensor?, into out: Tensor) {
        let image = tile / g.tilesPerImage, r = tile % g.tilesPerImage
        let y0 = (r / g.tilesPerRow) * 4, x0 = (r % g.tilesPerRow) * 4
        let planeOffset = ((image * (outPadded / 16) + block) * g.oh * g.ow) * 16
        let biasVec = loadVec(bias.pointer + block * 16)
        withUnsafeTemporaryAllocation(of: Vec16.self, capacity: 28) { buffer in
            let t = buffer.baseAddress!   // Aᵀ·M: 4×6, then one output row
            let pixels = t + 24
            for j in 0..<6 {
                let (r0, r1, r2, r3) = WinogradConvolution.outputRows(
                    loadVec(src + j * stride), loadVec(src + (6 + j) * stride), loadVec(src + (12 + j) * stride),
                    loadVec(src + (18 + j) * stride), loadVec(src + (24 + j) * stride), loadVec(src + (30 + j) * stride))
                t[j] = r0; t[6 + j] = r1; t[12 + j] = r2; t[18 + j] = r3
            }
            for i in 0..<4 where y0 + i < g.oh {
                let row = t + i * 6
                (pixels[0], pixels[1], pixels[2], pixels[3]) =
                    WinogradConvolution.outputRows(row[0], row[1], row[2], row[3], row[4], row[5])
                let offset = planeOffset + ((y0 + i) * g.ow + x0) * 16
                for j in 0..<Swift.min(4, g.ow - x0) {
                    var y = pixels[j] + biasVec
                    if let residual { y += loadVec(residual.pointer + offset + j * 16) }
                    storeVec(y, out.pointer + offset + j * 16)
                }
            }
        }
    }
}
