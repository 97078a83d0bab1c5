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
        // oneDNN's Winograd kernels need AVX-512; elsewhere the direct kernel runs.
        XCTAssertEqual(name.contains("wino"), ConvolutionKernel.winogradAvailable, name)
    }
}
