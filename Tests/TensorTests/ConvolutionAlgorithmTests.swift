import Foundation
import Tensor
import XCTest

/// The Winograd option and the image-by-image execution of batches with a large scratchpad. Accuracy against
/// PyTorch is checked model by model in Tests/ModelsTests (both algorithms); here: each path gives the results of
/// the plain one.
final class ConvolutionAlgorithmTests: XCTestCase {
    private func values(_ n: Int, seed: Int) -> [Float] {
        (0..<n).map { Float(sin(Double($0 * 7 + seed) * 0.013)) * 0.5 }
    }

    private func kernel(_ algorithm: ConvolutionKernel.Algorithm) throws -> ConvolutionKernel {
        let c = 32
        let k = try ConvolutionKernel(weight: values(c * c * 9, seed: 1).map { $0 * 0.1 }, shape: [c, c, 3, 3],
                                      bias: values(c, seed: 2), padding: Padding2D(1))
        k.algorithm = algorithm
        return k
    }

    func testSlicedBatchesAndWinogradAgreeWithTheDirectConvolution() throws {
        let n = 3, c = 32, side = 64
        let xs = values(n * c * side * side, seed: 3), rs = values(n * c * side * side, seed: 4)
        let x = try Tensor(shape: [n, c, side, side], values: xs).to(.nChw16c)
        let residual = try Tensor(shape: [n, c, side, side], values: rs).to(.nChw16c)
        let (exact, naive) = referenceConvolutions(xs, residual: rs, n: n, c: c, side: side)
        // The float32 rounding error of the plain sum (terms added in order): what a kernel's own error is set against.
        let naiveError = zip(naive, exact).map { abs(Double($0) - $1) }.max() ?? .infinity
        let saved = ConvolutionKernel.scratchpadBudgetBytes
        defer { ConvolutionKernel.scratchpadBudgetBytes = saved }

        var errors: [ConvolutionKernel.Algorithm: Double] = [:]
        for algorithm in ConvolutionKernel.Algorithm.allCases {
            ConvolutionKernel.scratchpadBudgetBytes = saved
            let whole = try kernel(algorithm)(x, residual: residual).plain().toArray()
            ConvolutionKernel.scratchpadBudgetBytes = 0   // every batch runs image by image
            let sliced = try kernel(algorithm)(x, residual: residual).plain().toArray()
            let slicing = maxDifference(whole, sliced)
            let error = zip(whole, exact).map { abs(Double($0) - $1) }.max() ?? .infinity
            errors[algorithm] = error
            print("\(algorithm): image by image vs whole batch \(slicing), vs float64 \(error)")
            XCTAssertEqual(whole.count, exact.count)
            // Per-image execution runs the same kernel on a smaller batch: rounding-level differences at most.
            XCTAssertLessThan(slicing, 1e-6, "\(algorithm): image-by-image execution changed the result")
        }
        // The direct kernel is float32 rounding of 290-term sums: of the order of adding them in order (2x allows
        // for the luck of a maximum); Winograd within the 4x the model tests allow.
        let direct = try XCTUnwrap(errors[.direct]), winograd = try XCTUnwrap(errors[.winograd])
        print("float32 sum in order vs float64: \(naiveError)")
        XCTAssertLessThanOrEqual(direct, 2 * naiveError)
        XCTAssertLessThanOrEqual(winograd, 4 * direct)
    }

    /// Batches whose primitive wants another layout (AVX2: oneDNN's 8-channel blocks) convert image by image when
    /// the batch's converted copies would exceed `conversionBudgetBytes`: the same results as converting the whole
    /// batch, with and without a residual, for convolutions and a transposed one. (On AVX-512 machines the
    /// primitives take our nChw16c as it is, nothing is converted, and both runs take the same path.)
    func testBatchesConvertedImageByImageAgreeWithTheWholeBatch() throws {
        let n = 3, cin = 24, cout = 40, side = 20
        let x = try Tensor(shape: [n, cin, side, side], values: values(n * cin * side * side, seed: 7)).to(.nChw16c)
        struct Case { let name: String; let kind: ConvolutionKernel.Kind; let shape: [Int]; let stride: Int; let padding: Int; let residual: Bool }
        let cases = [
            Case(name: "3x3 + residual", kind: .convolution, shape: [cout, cin, 3, 3], stride: 1, padding: 1, residual: true),
            Case(name: "1x1", kind: .convolution, shape: [cout, cin, 1, 1], stride: 1, padding: 0, residual: false),
            Case(name: "3x3 stride 2", kind: .convolution, shape: [cout, cin, 3, 3], stride: 2, padding: 1, residual: false),
            Case(name: "transposed 4x4/2 + residual", kind: .transposed, shape: [cin, cout, 4, 4], stride: 2, padding: 1, residual: true),
        ]
        let saved = ConvolutionKernel.conversionBudgetBytes
        defer { ConvolutionKernel.conversionBudgetBytes = saved }
        for (index, c) in cases.enumerated() {
            let k = try ConvolutionKernel(kind: c.kind, weight: values(c.shape.reduce(1, *), seed: 20 + index).map { $0 * 0.1 },
                                          shape: c.shape, bias: values(cout, seed: 30 + index), stride: (c.stride, c.stride),
                                          padding: Padding2D(c.padding))
            k.algorithm = .direct
            let (oh, ow) = k.outputSize(h: side, w: side)
            let residual = c.residual
                ? try Tensor(shape: [n, cout, oh, ow], values: values(n * cout * oh * ow, seed: 40 + index)).to(.nChw16c) : nil
            ConvolutionKernel.conversionBudgetBytes = Int.max / 2
            let whole = try k(x, residual: residual).plain().toArray()
            ConvolutionKernel.conversionBudgetBytes = 0   // every converting batch runs image by image
            let images = try k(x, residual: residual).plain().toArray()
            // Image 2 alone through the same kernel: what the third slice of the batch must hold.
            let single = try k(try Tensor(shape: [1, cin, side, side],
                                          values: Array(x.plain().toArray()[(2 * cin * side * side)...])).to(.nChw16c),
                               residual: try residual.map { r in
                                   try Tensor(shape: [1, cout, oh, ow], values: Array(r.plain().toArray()[(2 * cout * oh * ow)...])).to(.nChw16c)
                               }).plain().toArray()
            print("\(c.name): image by image vs whole batch \(maxDifference(whole, images))")
            XCTAssertEqual(whole.count, n * cout * oh * ow)
            XCTAssertLessThan(maxDifference(whole, images), 1e-6, c.name)
            XCTAssertLessThan(maxDifference(Array(images[(2 * cout * oh * ow)...]), single), 1e-6, c.name)
            XCTAssertGreaterThan(whole.map(abs).max() ?? 0, 0.1, c.name)
        }
    }

    /// The same convolution (3x3, padding 1, bias, plus residual), NCHW, in float64 and in float32 with the terms
    /// added in order.
    private func referenceConvolutions(_ x: [Float], residual: [Float], n: Int, c: Int,
                                       side: Int) -> (float64: [Double], float32: [Float]) {
        let w32 = values(c * c * 9, seed: 1).map { $0 * 0.1 }, b32 = values(c, seed: 2)
        let w = w32.map(Double.init), b = b32.map(Double.init)
        var y = [Double](repeating: 0, count: x.count), y32 = [Float](repeating: 0, count: x.count)
        for img in 0..<n {
            for o in 0..<c {
                for i in 0..<side {
                    for j in 0..<side {
                        let r = residual[((img * c + o) * side + i) * side + j]
                        var acc = b[o] + Double(r), acc32 = b32[o]
                        for ci in 0..<c {
                            for ki in 0..<3 where i + ki - 1 >= 0 && i + ki - 1 < side {
                                for kj in 0..<3 where j + kj - 1 >= 0 && j + kj - 1 < side {
                                    let wi = ((o * c + ci) * 3 + ki) * 3 + kj
                                    let xi = ((img * c + ci) * side + i + ki - 1) * side + j + kj - 1
                                    acc += w[wi] * Double(x[xi])
                                    acc32 += w32[wi] * x[xi]
                                }
                            }
                        }
                        y[((img * c + o) * side + i) * side + j] = acc
                        y32[((img * c + o) * side + i) * side + j] = acc32 + r
                    }
                }
            }
        }
        return (y, y32)
    }

    /// vqrt's own Winograd F(4x4, 3x3) (the kernel AVX2 machines run; forced here on any machine) against float64
    /// and against the direct kernel, on shapes that exercise its edges: output sizes that are not multiples of the
    /// 4x4 tile, asymmetric padding (a folded F.pad), channel counts that are not multiples of 16, a batch, no bias,
    /// a residual, plain and nChw16c inputs; kernels held transformed or transformed on each call.
    func testOwnWinogradAgreesWithFloat64() throws {
        let saved = ConvolutionKernel.ownWinogradEverywhere
        defer { ConvolutionKernel.ownWinogradEverywhere = saved }
        ConvolutionKernel.ownWinogradEverywhere = true
        struct Case { let n, cin, cout, h, w: Int; let padding: Padding2D; let bias, residual: Bool; let layout: TensorLayout }
        let cases = [
            Case(n: 2, cin: 24, cout: 40, h: 66, w: 67, padding: Padding2D(1), bias: true, residual: true, layout: .nChw16c),
            Case(n: 1, cin: 32, cout: 16, h: 65, w: 70, padding: Padding2D(top: 0, left: 0, bottom: 1, right: 1),
                 bias: false, residual: false, layout: .plain),
            Case(n: 1, cin: 16, cout: 33, h: 66, w: 66, padding: Padding2D(0), bias: true, residual: false, layout: .nhwc),
        ]
        for (index, c) in cases.enumerated() {
            let seed = 100 * index
            let weight = values(c.cout * c.cin * 9, seed: seed + 1).map { $0 * 0.2 }
            let bias = c.bias ? values(c.cout, seed: seed + 2) : nil
            func kernel(_ algorithm: ConvolutionKernel.Algorithm) throws -> ConvolutionKernel {
                let k = try ConvolutionKernel(weight: weight, shape: [c.cout, c.cin, 3, 3], bias: bias, padding: c.padding)
                k.algorithm = algorithm
                return k
            }
            let wino = try kernel(.winograd), direct = try kernel(.direct)
            let (oh, ow) = wino.outputSize(h: c.h, w: c.w)
            let xs = values(c.n * c.cin * c.h * c.w, seed: seed + 3)
            let rs = c.residual ? values(c.n * c.cout * oh * ow, seed: seed + 4) : nil
            let x = try Tensor(shape: [c.n, c.cin, c.h, c.w], values: xs).to(c.layout)
            let residual = try rs.map { try Tensor(shape: [c.n, c.cout, oh, ow], values: $0) }
            XCTAssertEqual(try wino.implementation(for: x), ConvolutionKernel.ownWinogradName)
            let y = try wino(x, residual: residual).plain().toArray()
            let yd = try direct(x, residual: residual).plain().toArray()
            XCTAssertEqual(wino.ownWinogradTransformsPerCall, false)
            // Layers above the channel limit (512->512) transform their kernels on every call: the same numbers.
            let savedLimit = ConvolutionKernel.winogradMaximumChannelProduct
            ConvolutionKernel.winogradMaximumChannelProduct = c.cin * c.cout - 1
            let perCall = try kernel(.winograd)
            let yp = try perCall(x, residual: residual).plain().toArray()
            let yp2 = try perCall(x, residual: residual).plain().toArray()
            ConvolutionKernel.winogradMaximumChannelProduct = savedLimit
            XCTAssertEqual(perCall.ownWinogradTransformsPerCall, true)
            XCTAssertEqual(yp, y, "case \(index): kernels transformed per call")
            XCTAssertEqual(yp2, y, "case \(index): second call")
            // float64 reference
            var exact = [Double](repeating: 0, count: c.n * c.cout * oh * ow)
            for img in 0..<c.n {
                for o in 0..<c.cout {
                    for i in 0..<oh {
                        for j in 0..<ow {
                            let at = ((img * c.cout + o) * oh + i) * ow + j
                            var acc = (bias.map { Double($0[o]) } ?? 0) + (rs.map { Double($0[at]) } ?? 0)
                            for ci in 0..<c.cin {
                                for ki in 0..<3 {
                                    let yy = i + ki - c.padding.top
                                    guard yy >= 0, yy < c.h else { continue }
                                    for kj in 0..<3 {
                                        let xx = j + kj - c.padding.left
                                        guard xx >= 0, xx < c.w else { continue }
                                        acc += Double(weight[((o * c.cin + ci) * 3 + ki) * 3 + kj])
                                            * Double(xs[((img * c.cin + ci) * c.h + yy) * c.w + xx])
                                    }
                                }
                            }
                            exact[at] = acc
                        }
                    }
                }
            }
            XCTAssertEqual(y.count, exact.count)
            let winoError = zip(y, exact).map { abs(Double($0) - $1) }.max() ?? .infinity
            let directError = zip(yd, exact).map { abs(Double($0) - $1) }.max() ?? .infinity
            let scale = exact.map(abs).max() ?? 0
            print("own Winograd case \(index): vs float64 \(winoError), direct kernel \(directError), largest value \(scale)")
            // The transforms scale values by up to ~10 before the products: a few times the direct error, as with
            // oneDNN's F(4x4, 3x3); and never a wrong value (a misplaced tile or channel would be O(scale)).
            XCTAssertLessThanOrEqual(winoError, 8 * directError, "case \(index)")
            XCTAssertGreaterThan(scale, 0.5)
        }
    }

    private func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
        guard a.count == b.count else { return .infinity }
        return zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    func testSmallOutputsStayDirect() throws {
        let k = try kernel(.winograd)
        let x = try Tensor(shape: [1, 32, 16, 16], values: values(32 * 16 * 16, seed: 5))
        XCTAssertFalse(try k.implementation(for: x).contains("wino"))
        let big = try Tensor(shape: [1, 32, 64, 64], values: values(32 * 64 * 64, seed: 6))
        let name = try k.implementation(for: big)
        // oneDNN's Winograd kernels need AVX-512; elsewhere vqrt's own runs.
        XCTAssertTrue(name.contains("wino"), name)
        XCTAssertEqual(name == ConvolutionKernel.ownWinogradName, !ConvolutionKernel.winogradAvailable, name)
    }
}
