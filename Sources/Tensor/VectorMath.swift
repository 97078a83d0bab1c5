// Vectorised exp / sigmoid / tanh on SIMD16<Float> (one AVX-512 register).
//
// libm's expf is scalar; a GroupNorm+SiLU over a 128×256×256 activation would spend more time in it than the next
// convolution takes. These are the Cephes single-precision algorithms (range reduction plus minimax polynomial),
// accurate to about 1-2 ulp, which is what PyTorch's Sleef-based kernels give as well.

public typealias Vec16 = SIMD16<Float>

@inline(__always)
func loadVec(_ p: UnsafePointer<Float>) -> Vec16 {
    UnsafeRawPointer(p).loadUnaligned(as: Vec16.self)
}

@inline(__always)
func storeVec(_ v: Vec16, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec16.self)
}

/// Lane-wise maximum / minimum through a compare and blend. The standard library's `pointwiseMax/Min` and
/// `clamped` are generic functions that the optimiser leaves as out-of-line per-lane loops; these compile to
/// single AVX-512 instructions. If either lane is NaN the result is `a`'s lane.
@inline(__always)
func vmax(_ a: Vec16, _ b: Vec16) -> Vec16 { a.replacing(with: b, where: a .< b) }

@inline(__always)
func vmin(_ a: Vec16, _ b: Vec16) -> Vec16 { a.replacing(with: b, where: b .< a) }

/// e^x per lane. Overflows to +inf above 88.72; flushes to 0 below -87.34 (no denormal results).
@inline(__always)
public func vexp(_ x: Vec16) -> Vec16 {
    let hi = Vec16(repeating: 88.72283905206835), lo = Vec16(repeating: -87.33654475)
    var xc = vmin(vmax(x, lo), hi)
    // n = round(x / ln 2); r = x - n ln 2 with ln 2 split in two for an exact first product.
    let n = (xc * 1.44269504088896341).rounded(.toNearestOrEven)
    xc = xc - n * 0.693359375
    xc = xc + n * 2.12194440e-4
    let z = xc * xc
    var p = Vec16(repeating: 1.9875691500e-4)
    p = p * xc + 1.3981999507e-3
    p = p * xc + 8.3334519073e-3
    p = p * xc + 4.1665795894e-2
    p = p * xc + 1.6666665459e-1
    p = p * xc + 5.0000001201e-1
    p = p * z + xc + 1
    // Scale by 2^n. n is integral in [-126, 128]: adding 1.5·2^23 puts it in the low mantissa bits (a float->int
    // conversion through SIMD16<Int32>(_:rounding:) is scalarised by the compiler). Two factors 2^a·2^b with
    // a = n >> 1 keep both exponents normal at the ends of the range.
    let magic = Vec16(repeating: 12582912.0)
    let ni = unsafeBitCast(n + magic, to: SIMD16<Int32>.self) &- unsafeBitCast(magic, to: SIMD16<Int32>.self)
    let a = ni &>> 1, b = ni &- a
    let sa = unsafeBitCast((a &+ 127) &<< 23, to: Vec16.self), sb = unsafeBitCast((b &+ 127) &<< 23, to: Vec16.self)
    var r = p * sa * sb
    r.replace(with: 0, where: x .< lo)
    r.replace(with: .infinity, where: x .> hi)
    r.replace(with: x, where: x .!= x)   // NaN stays NaN
    return r
}

/// sigmoid(x) = 1 / (1 + e^-x), as PyTorch's CPU kernel computes it.
@inline(__always)
public func vsigmoid(_ x: Vec16) -> Vec16 {
    1 / (1 + vexp(-x))
}

/// x · sigmoid(x), in the form taming/ldm write it (`x*torch.sigmoid(x)`: the sigmoid is rounded to float, then
/// multiplied). torch.nn.functional.silu instead divides, x / (1 + e^-x); the two differ by about 1 ulp.
@inline(__always)
public func vsilu(_ x: Vec16) -> Vec16 {
    x * vsigmoid(x)
}

/// tanh per lane: odd polynomial for |x| < 0.625, otherwise 1 - 2/(e^{2|x|} + 1) with the sign restored.
@inline(__always)
public func vtanh(_ x: Vec16) -> Vec16 {
    let ax = unsafeBitCast(unsafeBitCast(x, to: SIMD16<UInt32>.self) & 0x7fff_ffff, to: Vec16.self)
    let z = x * x
    var p = Vec16(repeating: -5.70498872745e-3)
    p = p * z + 2.06390887954e-2
    p = p * z - 5.37397155531e-2
    p = p * z + 1.33314422036e-1
    p = p * z - 3.33332819422e-1
    let small = p * z * x + x
    let e = vexp(2 * ax)
    var big = 1 - 2 / (e + 1)
    big.replace(with: -big, where: x .< 0)
    var r = big
    r.replace(with: small, where: ax .< 0.625)
    r.replace(with: x, where: x .!= x)
    return r
}

/// Scalar versions for loop tails, computed through the vector code so results are identical.
@inline(__always)
func sexp(_ x: Float) -> Float { vexp(Vec16(repeating: x))[0] }
