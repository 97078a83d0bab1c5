import Foundation
import Tensor
import XCTest

/// The bf16 precision (Precision.swift): convolutions, transposed convolutions, linear layers and attention matmuls
/// read bfloat16-rounded inputs and weights and accumulate in float32.
///
/// Each kernel is checked twice: against a float64 computation on the *bfloat16-rounded* inputs and weights
/// (rounded here, independently of the kernels: round to nearest even), where only float32 accumulation error may
/// remain; and against the float32 kernel, which must differ by about the bfloat16 rounding (2^-9 relative per
/// operand), i.e. really have used bfloat16. On CPUs without oneDNN bf16 kernels (AVX2) the same checks hold for
/// the emulation (rounded operands through the float32 kernels).
final class BFloat16Tests: XCTestCase {
    /// Deterministic values in [-1, 1).
    private func values(_ n: Int, seed: UInt64) -> [Float] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<n).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(state >> 40) / 8_388_608 - 1
        }
    }

    /// `Float(bfloat16(x))`, round to nearest even (finite inputs).
    private func bf16(_ x: Float) -> Float {
        let bits = x.bitPattern
        let rounded = (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) & 0xFFFF_0000
        return Float(bitPattern: rounded)
    }

    /// Largest |a - b| over the largest |reference|.
    private func relative(_ a: [Float], _ b: [Double]) -> Double {
        precondition(a.count == b.count)
        let scale = b.map(abs).max() ?? 1
        return zip(a, b).map { abs(Double($0) - $1) }.max()! / scale
    }

    private func relative(_ a: [Float], _ b: [Float]) -> Double { relative(a, b.map(Double.init)) }

    // MARK: convolutions

    private struct ConvCase {
        let name: String
        let kind: ConvolutionKernel.Kind
        let n: Int, cin: Int, cout: Int, h: Int, w: Int, k: Int, stride: Int, pad: Int
        let layout: TensorLayout
        let residual: Bool
    }

    /// float64 convolution / transposed convolution, NCHW, weights in PyTorch's layout.
    private func reference(_ c: ConvCase, x: [Double], w: [Double], b: [Double], residual: [Double]?,
                           oh: Int, ow: Int) -> [Double] {
        var y = [Double](repeating: 0, count: c.n * c.cout * oh * ow)
        for img in 0..<c.n {
            for o in 0..<c.cout {
                for p in 0..<(oh * ow) { y[(img * c.cout + o) * oh * ow + p] = b[o] }
            }
            for ci in 0..<c.cin {
                for o in 0..<c.cout {
                    for ki in 0..<c.k {
                        for kj in 0..<c.k {
                            let wv = c.kind == .convolution ? w[((o * c.cin + ci) * c.k + ki) * c.k + kj]
                                                            : w[((ci * c.cout + o) * c.k + ki) * c.k + kj]
                            if c.kind == .convolution {
                                for i in 0..<oh {
                                    let yi = i * c.stride - c.pad + ki
                                    if yi < 0 || yi >= c.h { continue }
                                    for j in 0..<ow {
                                        let xj = j * c.stride - c.pad + kj
                                        if xj < 0 || xj >= c.w { continue }
                                        y[((img * c.cout + o) * oh + i) * ow + j] += wv * x[((img * c.cin + ci) * c.h + yi) * c.w + xj]
                                    }
                                }
                            } else {
                                for i in 0..<c.h {
                                    let yi = i * c.stride - c.pad + ki
                                    if yi < 0 || yi >= oh { continue }
                                    for j in 0..<c.w {
                                        let yj = j * c.stride - c.pad + kj
                                        if yj < 0 || yj >= ow { continue }
                                        y[((img * c.cout + o) * oh + yi) * ow + yj] += wv * x[((img * c.cin + ci) * c.h + i) * c.w + j]
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        if let r = residual { for i in y.indices { y[i] += r[i] } }
        return y
    }

    func testConvolutionsInBFloat16() throws {
        let cases = [
            ConvCase(name: "3x3 nChw16c + residual", kind: .convolution, n: 2, cin: 64, cout: 48, h: 12, w: 10, k: 3,
                     stride: 1, pad: 1, layout: .nChw16c, residual: true),
            ConvCase(name: "first layer 3ch plain", kind: .convolution, n: 2, cin: 3, cout: 32, h: 16, w: 16, k: 3,
                     stride: 1, pad: 1, layout: .plain, residual: false),
            ConvCase(name: "1x1", kind: .convolution, n: 1, cin: 96, cout: 64, h: 8, w: 8, k: 1,
                     stride: 1, pad: 0, layout: .nChw16c, residual: false),
            ConvCase(name: "3x3 stride 2", kind: .convolution, n: 1, cin: 32, cout: 32, h: 16, w: 16, k: 3,
                     stride: 2, pad: 1, layout: .nChw16c, residual: false),
            ConvCase(name: "transposed 4x4/2", kind: .transposed, n: 2, cin: 32, cout: 32, h: 8, w: 8, k: 4,
                     stride: 2, pad: 1, layout: .nChw16c, residual: false),
        ]
        for (index, c) in cases.enumerated() {
            let seed = UInt64(index * 10)
            let wShape = c.kind == .convolution ? [c.cout, c.cin, c.k, c.k] : [c.cin, c.cout, c.k, c.k]
            let fanIn = Float(c.cin * c.k * c.k).squareRoot()
            let weight = values(wShape.reduce(1, *), seed: seed + 1).map { $0 / fanIn }
            let bias = values(c.cout, seed: seed + 2).map { $0 * 0.1 }
            let xs = values(c.n * c.cin * c.h * c.w, seed: seed + 3)
            func kernel(_ p: Precision) throws -> ConvolutionKernel {
                try ConvolutionKernel(kind: c.kind, weight: weight, shape: wShape, bias: bias,
                                      stride: (c.stride, c.stride), padding: Padding2D(c.pad),
                                      execution: ExecutionConfig(convolutionAlgorithm: .direct, precision: p))
            }
            let bf = try kernel(.bf16), fp = try kernel(.fp32)
            let (oh, ow) = bf.outputSize(h: c.h, w: c.w)
            let rs = c.residual ? values(c.n * c.cout * oh * ow, seed: seed + 4) : nil
            let x = try Tensor(shape: [c.n, c.cin, c.h, c.w], values: xs).to(c.layout)
            let residual = try rs.map { try Tensor(shape: [c.n, c.cout, oh, ow], values: $0).to(.nChw16c) }

            let impl = try bf.implementation(for: x)
            // A bf16 kernel where oneDNN has them; elsewhere the float32 kernel on rounded operands (emulation).
            XCTAssertEqual(impl.contains("bf16"), Precision.nativeBFloat16, "\(c.name): \(impl)")
            XCTAssertFalse(impl.hasPrefix("ref"), "\(c.name): reference implementation \(impl)")

            let y16 = try bf(x, residual: residual).plain().toArray()
            let y32 = try fp(x, residual: residual).plain().toArray()
            let exact = reference(c, x: xs.map { Double(bf16($0)) }, w: weight.map { Double(bf16($0)) },
                                  b: bias.map(Double.init), residual: rs?.map(Double.init), oh: oh, ow: ow)
            let exact32 = reference(c, x: xs.map(Double.init), w: weight.map(Double.init), b: bias.map(Double.init),
                                    residual: rs?.map(Double.init), oh: oh, ow: ow)
            let accumulation = relative(y16, exact), rounding = relative(y16, y32)
            let fp32Error = relative(y32, exact32)
            print("bf16 \(c.name) [\(impl)]: vs float64 of bf16 operands \(accumulation), vs fp32 \(rounding) (fp32 vs float64 \(fp32Error))")
            // float32 accumulation of at most 576 terms: the error of the fp32 kernel itself.
            XCTAssertLessThan(accumulation, 2e-6, c.name)
            XCTAssertLessThan(fp32Error, 2e-6, c.name)
            // bfloat16 rounding of both operands (2^-9 relative each), partly averaging out over the sums.
            XCTAssertGreaterThan(rounding, 1e-4, "\(c.name): bf16 result is too close to fp32 (was it bf16?)")
            XCTAssertLessThan(rounding, 2e-2, c.name)
        }
    }

    func testBFloat16ConvolutionsNeverUseWinograd() throws {
        let c = 32
        let k = try ConvolutionKernel(weight: values(c * c * 9, seed: 7).map { $0 * 0.05 }, shape: [c, c, 3, 3],
                                      bias: nil, padding: Padding2D(1),
                                      execution: ExecutionConfig(convolutionAlgorithm: .winograd, precision: .bf16))
        let x = try Tensor(shape: [1, c, 64, 64], values: values(c * 64 * 64, seed: 8)).to(.nChw16c)
        let name = try k.implementation(for: x)
        XCTAssertFalse(name.contains("wino"), name)
        XCTAssertEqual(name.contains("bf16"), Precision.nativeBFloat16, name)
    }

    /// With `ExecutionConfig.roundsBFloat16Outputs`, the float32 outputs are rounded to bfloat16 (as autocast's
    /// are): exactly the rounding of the unrounded output.
    func testOutputRoundingImitatesAutocast() throws {
        func kernels(rounding: Bool) throws -> (ConvolutionKernel, LinearKernel) {
            let execution = ExecutionConfig(precision: .bf16, roundsBFloat16Outputs: rounding)
            return (try ConvolutionKernel(weight: values(32 * 16 * 9, seed: 11).map { $0 * 0.1 }, shape: [32, 16, 3, 3],
                                          bias: values(32, seed: 12), padding: Padding2D(1), execution: execution),
                    try LinearKernel(weight: values(24 * 40, seed: 13).map { $0 * 0.1 }, outFeatures: 24,
                                     inFeatures: 40, bias: values(24, seed: 14), execution: execution))
        }
        let x = try Tensor(shape: [2, 16, 9, 9], values: values(2 * 16 * 81, seed: 15)).to(.nChw16c)
        let rows = try Tensor(shape: [5, 40], values: values(200, seed: 16))
        let (conv, linear) = try kernels(rounding: false), (rConv, rLinear) = try kernels(rounding: true)
        let c0 = try conv(x).plain().toArray(), l0 = try linear(rows).toArray()
        let c1 = try rConv(x).plain().toArray(), l1 = try rLinear(rows).toArray()
        XCTAssertEqual(c1, c0.map(bf16))
        XCTAssertEqual(l1, l0.map(bf16))
        XCTAssertNotEqual(c1, c0)
    }

    // MARK: linear layers and attention

    func testLinearInBFloat16() throws {
        let rows = 37, inF = 96, outF = 80
        let weight = values(outF * inF, seed: 21).map { $0 / Float(inF).squareRoot() }
        let bias = values(outF, seed: 22).map { $0 * 0.1 }
        let xs = values(rows * inF, seed: 23), rs = values(rows * outF, seed: 24)
        func kernel(_ p: Precision) throws -> LinearKernel {
            try LinearKernel(weight: weight, outFeatures: outF, inFeatures: inF, bias: bias, execution: ExecutionConfig(convolutionAlgorithm: .direct, precision: p))
        }
        let bf = try kernel(.bf16), fp = try kernel(.fp32)
        let impl = try bf.implementation(rows: rows)
        XCTAssertEqual(impl.contains("bf16"), Precision.nativeBFloat16, impl)
        XCTAssertFalse(impl.hasPrefix("ref"), impl)
        // One batch entry of `rows` rows (a layer runs its input batch entry by batch entry).
        let x = try Tensor(shape: [1, rows, inF], values: xs), r = try Tensor(shape: [1, rows, outF], values: rs)
        let y16 = try bf(x, residual: r).toArray(), y32 = try fp(x, residual: r).toArray()
        func exact(_ round: (Float) -> Float) -> [Double] {
            var y = [Double](repeating: 0, count: rows * outF)
            for i in 0..<rows {
                for o in 0..<outF {
                    var acc = Double(bias[o]) + Double(rs[i * outF + o])
                    for k in 0..<inF { acc += Double(round(xs[i * inF + k])) * Double(round(weight[o * inF + k])) }
                    y[i * outF + o] = acc
                }
            }
            return y
        }
        let accumulation = relative(y16, exact(bf16)), rounding = relative(y16, y32)
        let fp32Error = relative(y32, exact { $0 })
        print("bf16 linear [\(impl)]: vs float64 of bf16 operands \(accumulation), vs fp32 \(rounding) (fp32 vs float64 \(fp32Error))")
        XCTAssertLessThan(accumulation, 2e-6)
        XCTAssertGreaterThan(rounding, 1e-4, "bf16 result is too close to fp32 (was it bf16?)")
        XCTAssertLessThan(rounding, 2e-2)
    }

    func testAttentionInBFloat16() throws {
        let b = 2, n = 24, heads = 2, d = 16, hd = heads * d
        let scale = 1 / Float(d).squareRoot()
        let q = values(b * n * hd, seed: 31), k = values(b * n * hd, seed: 32), v = values(b * n * hd, seed: 33)
        let before = DNNLDiagnostics.referenceImplementations.count
        func run(_ p: Precision) throws -> [Float] {
            try Tensor.multiHeadAttention(q: try Tensor(shape: [b, n, hd], values: q), k: try Tensor(shape: [b, n, hd], values: k),
                                          v: try Tensor(shape: [b, n, hd], values: v), heads: heads, scale: scale,
                                          precision: p).toArray()
        }
        let y16 = try run(.bf16), y32 = try run(.fp32)
        XCTAssertEqual(DNNLDiagnostics.referenceImplementations.count, before,
                       "reference kernels: \(DNNLDiagnostics.referenceImplementations)")
        // float64 with bf16 q, k; float32-like softmax probabilities rounded to bf16 for the second product; bf16 v.
        func exact(_ round: (Float) -> Float) -> [Double] {
            var out = [Double](repeating: 0, count: b * n * hd)
            for bi in 0..<b {
                for h in 0..<heads {
                    for i in 0..<n {
                        var s = [Double](repeating: 0, count: n)
                        for j in 0..<n {
                            var acc = 0.0
                            for c in 0..<d {
                                acc += Double(round(q[(bi * n + i) * hd + h * d + c])) * Double(round(k[(bi * n + j) * hd + h * d + c]))
                            }
                            s[j] = acc * Double(scale)
                        }
                        let m = s.max()!
                        let e = s.map { exp($0 - m) }, total = e.reduce(0, +)
                        let p = e.map { Double(round(Float($0 / total))) }
                        for c in 0..<d {
                            var acc = 0.0
                            for j in 0..<n { acc += p[j] * Double(round(v[(bi * n + j) * hd + h * d + c])) }
                            out[(bi * n + i) * hd + h * d + c] = acc
                        }
                    }
                }
            }
            return out
        }
        let accumulation = relative(y16, exact(bf16)), rounding = relative(y16, y32)
        print("bf16 attention: vs float64 of bf16 operands \(accumulation), vs fp32 \(rounding) (fp32 vs float64 \(relative(y32, exact { $0 })))")
        // (A probability lying on a bfloat16 rounding boundary could round differently from the float64 one, ~5e-4
        // here; with these fixed values none does, measured 3e-8.)
        XCTAssertLessThan(accumulation, 1e-5)
        XCTAssertGreaterThan(rounding, 5e-4, "bf16 result is too close to fp32 (was it bf16?)")
        XCTAssertLessThan(rounding, 3e-2)
    }
}
