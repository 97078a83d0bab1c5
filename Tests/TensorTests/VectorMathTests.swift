import XCTest
import Foundation
import Tensor

/// The vector exp/tanh/SiLU against float64 libm on a dense sweep: errors in units of the float32 spacing.
final class VectorMathTests: XCTestCase {
    private func ulpError(_ got: Float, _ want: Double) -> Double {
        if want == 0 { return got == 0 ? 0 : .infinity }
        let spacing = Double(Float(want).ulp)
        return abs(Double(got) - want) / spacing
    }

    private func sweep(from lo: Float, to hi: Float, count: Int) -> [Float] {
        (0..<count).map { lo + (hi - lo) * Float($0) / Float(count - 1) }
    }

    func testExpIsWithinTwoULP() {
        let xs = sweep(from: -87, to: 88.5, count: 100_000)
        var worst = 0.0
        for i in stride(from: 0, to: xs.count - 16, by: 16) {
            let v = vexp(Vec16(xs[i..<i + 16]))
            for k in 0..<16 { worst = max(worst, ulpError(v[k], Foundation.exp(Double(xs[i + k])))) }
        }
        XCTAssertLessThan(worst, 2.0)
        let edge = vexp(Vec16([-1000, -88, 0, 89, 1000, .nan, .infinity, -.infinity, 1, 2, 3, 4, 5, 6, 7, 8]))
        XCTAssertEqual(edge[0], 0); XCTAssertEqual(edge[1], 0); XCTAssertEqual(edge[2], 1)
        XCTAssertEqual(edge[3], .infinity); XCTAssertEqual(edge[4], .infinity); XCTAssertTrue(edge[5].isNaN)
        XCTAssertEqual(edge[6], .infinity); XCTAssertEqual(edge[7], 0)
    }

    func testTanhIsWithinThreeULP() {
        let xs = sweep(from: -12, to: 12, count: 100_000) + sweep(from: -0.7, to: 0.7, count: 100_000)
        var worst = 0.0
        for i in stride(from: 0, to: xs.count - 16, by: 16) {
            let v = vtanh(Vec16(xs[i..<i + 16]))
            for k in 0..<16 {
                let want = Foundation.tanh(Double(xs[i + k]))
                // Near 0 the ulp of the result is tiny; measure against the argument's scale there.
                worst = max(worst, abs(want) < 1e-30 ? Double(abs(v[k])) : ulpError(v[k], want))
            }
        }
        XCTAssertLessThan(worst, 3.0)
        let edge = vtanh(Vec16([-100, 100, 0, -0.0, 1e-20, .nan, 9, -9, 0.625, -0.625, 0.6249, 1, 2, 3, 4, 5]))
        XCTAssertEqual(edge[0], -1); XCTAssertEqual(edge[1], 1); XCTAssertEqual(edge[2], 0)
        XCTAssertEqual(edge[4], 1e-20); XCTAssertTrue(edge[5].isNaN)
    }

    func testSiLUIsWithinThreeULP() {
        let xs = sweep(from: -80, to: 80, count: 100_000)
        var worst = 0.0
        for i in stride(from: 0, to: xs.count - 16, by: 16) {
            let v = vsilu(Vec16(xs[i..<i + 16]))
            for k in 0..<16 {
                let x = Double(xs[i + k])
                worst = max(worst, ulpError(v[k], x / (1 + Foundation.exp(-x))))
            }
        }
        XCTAssertLessThan(worst, 3.0)
    }
}
