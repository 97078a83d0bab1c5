import Foundation
import Tensor
import XCTest

/// The Winograd option, and the guarantee that a batch's results are those of its images run alone (plans are
/// made for one image). Accuracy against PyTorch is checked model by model in Tests/ModelsTests (both algorithms).
final class ConvolutionAlgorithmTests: XCTestCase {
    private func values(_ n: Int, seed: Int) -> [Float] {
        (0..<n).map { Float(sin(Double($0 * 7 + seed) * 0.013)) * 0.5 }
    }

    private func kernel(_ algorithm: ConvolutionKernel.Algorithm, ownWinograd: Bool = false) throws -> ConvolutionKernel {
        let c = 32
        return try ConvolutionKernel(weight: values(c * c * 9, seed: 1).map { $0 * 0.1 }, shape: [c, c, 3, 3],
                                     bias: values(c, seed: 2), padding: Padding2D(1),
                                     execution: ExecutionConfig(convolutionAlgorithm: algorithm, ownWinogradEverywhere: ownWinograd))
    }

    func testWinogradAgreesWithTheDirectConvolution() throws {
        let n = 3, c = 32, side = 64
        let xs = values(n * c * side * side, seed: 3), rs = values(n * c * side * side, seed: 4)
        let x = try Tensor(shape: [n, c, side, side], values: xs).to(.nChw16c)
        let residual = try Tensor(shape: [n, c, side, side], values: rs).to(.nChw16c)
        let (exact, naive) = referenceConvolutions(xs, residual: rs, n: n, c: c, side: side)
        // The float32 rounding error of the plain sum (terms added in order): what a kernel's own error is set against.
        let naiveError = zip(naive, exact).map { abs(Double($0) - $1) }.max() ?? .infinity
        var errors: [ConvolutionKernel.Algorithm: Double] = [:]
        for algorithm in ConvolutionKernel.Algorithm.allCases {
            let y = try kernel(algorithm)(x, residual: residual).plain().toArray()
            XCTAssertEqual(y.count, exact.count)
            errors[algorithm] = zip(y, exact).map { abs(Double($0) - $1) }.max() ?? .infinity
            print("\(algorithm): vs float64 \(errors[algorithm]!)")
        }
        // The direct kernel is float32 rounding of 290-term sums: of the order of adding them in order (2x allows
        // for the luck of a maximum); Winograd within the 4x the model tests allow.
        let direct = try XCTUnwrap(errors[.direct]), winograd = try XCTUnwrap(errors[.winograd])
        print("float32 sum in order vs float64: \(naiveError)")
        XCTAssertLessThanOrEqual(direct, 2 * naiveError)
        XCTAssertLessThanOrEqual(winograd, 4 * direct)
    }

    /// Every image of a batch gets exactly the bits it gets alone, whatever the kind of convolution (including the
    /// layout conversions AVX2 kernels need, a residual added inside the primitive, oneDNN's Winograd and vqrt's own)
    /// and whatever the thread count: the guarantee `--batch-size` and `--threads` rest on.
    func testEveryImageOfABatchGetsTheBitsItGetsAlone() throws {
        let n = 3
        struct Case { let name: String; let kind: ConvolutionKernel.Kind; let shape: [Int]; let side: Int; let stride: Int
                      let padding: Int; let residual: Bool
                      var cin: Int { kind == .convolution ? shape[1] : shape[0] }
                      var cout: Int { kind == .convolution ? shape[0] : shape[1] } }
        let cin = 24, cout = 40
        let cases = [
            // ViT-VQGAN's patch embedding and its to_pixel (kernel = stride = patch).
            Case(name: "patch embedding 8x8/8", kind: .convolution, shape: [64, 3, 8, 8], side: 64, stride: 8, padding: 0, residual: false),
            Case(name: "to_pixel transposed 8x8/8", kind: .transposed, shape: [96, 3, 8, 8], side: 8, stride: 8, padding: 0, residual: false),
            Case(name: "3x3 + residual", kind: .convolution, shape: [cout, cin, 3, 3], side: 20, stride: 1, padding: 1, residual: true),
            Case(name: "3x3 at 64x64 + residual (Winograd size)", kind: .convolution, shape: [cout, cin, 3, 3], side: 64,
                 stride: 1, padding: 1, residual: true),
            Case(name: "1x1", kind: .convolution, shape: [cout, cin, 1, 1], side: 20, stride: 1, padding: 0, residual: false),
            Case(name: "3x3 stride 2", kind: .convolution, shape: [cout, cin, 3, 3], side: 20, stride: 2, padding: 1, residual: false),
            Case(name: "transposed 4x4/2 + residual", kind: .transposed, shape: [cin, cout, 4, 4], side: 20, stride: 2,
                 padding: 1, residual: true),
        ]
        defer { setThreads(0) }
        for (index, c) in cases.enumerated() {
            for (algorithm, own) in [(ConvolutionKernel.Algorithm.direct, false), (.winograd, false), (.winograd, true)] {
                let cin = c.cin, cout = c.cout
                let k = try ConvolutionKernel(kind: c.kind, weight: values(c.shape.reduce(1, *), seed: 20 + index).map { $0 * 0.1 },
                                              shape: c.shape, bias: values(cout, seed: 30 + index), stride: (c.stride, c.stride),
                                              padding: Padding2D(c.padding),
                                              execution: ExecutionConfig(convolutionAlgorithm: algorithm, ownWinogradEverywhere: own))
                let label = "\(c.name), \(algorithm)\(own ? " (vqrt's own)" : "")"
                let (oh, ow) = k.outputSize(h: c.side, w: c.side)
                let xs = values(n * cin * c.side * c.side, seed: 7 + index)
                let rs = c.residual ? values(n * cout * oh * ow, seed: 40 + index) : nil
                func run(_ images: Range<Int>) throws -> [Float] {
                    let m = images.count, per = cin * c.side * c.side, perOut = cout * oh * ow
                    let x = try Tensor(shape: [m, cin, c.side, c.side], values: Array(xs[(images.lowerBound * per)..<(images.upperBound * per)])).to(.nChw16c)
                    let r = try rs.map { try Tensor(shape: [m, cout, oh, ow], values: Array($0[(images.lowerBound * perOut)..<(images.upperBound * perOut)])).to(.nChw16c) }
                    return try k(x, residual: r).plain().toArray()
                }
                setThreads(0)
                let whole = try run(0..<n)
                XCTAssertEqual(whole.count, n * cout * oh * ow, label)
                XCTAssertGreaterThan(whole.map(abs).max() ?? 0, 0.1, label)
                let perOut = cout * oh * ow
                for i in 0..<n { XCTAssertEqual(try run(i..<(i + 1)), Array(whole[(i * perOut)..<((i + 1) * perOut)]), "\(label): image \(i)") }
                setThreads(1)
                XCTAssertEqual(try run(0..<n), whole, "\(label): one thread")
                if c.side >= 64 && c.shape[2] == 3 && c.stride == 1 && algorithm == .winograd {
                    XCTAssertTrue(try k.implementation(for: try Tensor(shape: [1, cin, c.side, c.side], values: Array(xs[0..<(cin * c.side * c.side)])))
                        .contains("wino"), "\(label): Winograd did not run")
                }
            }
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
            func kernel(_ algorithm: ConvolutionKernel.Algorithm, channelLimit: Int = 256 * 256) throws -> ConvolutionKernel {
                try ConvolutionKernel(weight: weight, shape: [c.cout, c.cin, 3, 3], bias: bias, padding: c.padding,
                                      execution: ExecutionConfig(convolutionAlgorithm: algorithm, ownWinogradEverywhere: true,
                                                                 winogradMaximumChannelProduct: channelLimit))
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
            let perCall = try kernel(.winograd, channelLimit: c.cin * c.cout - 1)
            let yp = try perCall(x, residual: residual).plain().toArray()
            let yp2 = try perCall(x, residual: residual).plain().toArray()
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
