import Foundation
import Tensor
import XCTest

/// Open-MAGVIT2's depth_to_space (DCR order) and the chunked dot-product argmax of IBQ / GumbelVQ, against direct
/// formulas.
final class DepthToSpaceAndArgmaxTests: XCTestCase {
    func values(_ count: Int, _ seed: Int) -> [Float] { (0..<count).map { Float(sin(Double($0 * 7 + seed) * 0.37)) } }

    /// out[n, c, 2h + i, 2w + j] = in[n, (2i + j)·C + c, h, w], in both layouts; pixel_shuffle's order differs.
    func testDepthToSpaceIsDCROrderInBothLayouts() throws {
        for (n, c, h, w) in [(2, 16, 3, 5), (1, 32, 4, 4), (2, 3, 2, 7)] {
            let x = try Tensor(shape: [n, 4 * c, h, w], values: values(n * 4 * c * h * w, c))
            var expected = [Float](repeating: 0, count: n * c * 4 * h * w)
            var pixelShuffle = expected
            for b in 0..<n { for ch in 0..<c { for y in 0..<h { for xx in 0..<w { for i in 0..<2 { for j in 0..<2 {
                let o = ((b * c + ch) * 2 * h + 2 * y + i) * 2 * w + 2 * xx + j
                expected[o] = x[[b, (2 * i + j) * c + ch, y, xx]]
                pixelShuffle[o] = x[[b, ch * 4 + 2 * i + j, y, xx]]
            } } } } } }
            let plain = try x.depthToSpace2x()
            XCTAssertEqual(plain.shape, [n, c, 2 * h, 2 * w])
            XCTAssertEqual(plain.toArray(), expected, "plain \(c)")
            let blocked = try x.to(.nChw16c).depthToSpace2x()
            XCTAssertEqual(blocked.layout, c % 16 == 0 ? .nChw16c : .plain)
            XCTAssertEqual(blocked.toArray(), expected, "nChw16c \(c)")
            XCTAssertEqual(try x.to(.nhwc).depthToSpace2x().toArray(), expected, "nhwc \(c)")
            XCTAssertNotEqual(expected, pixelShuffle)
        }
        XCTAssertThrowsError(try Tensor(shape: [1, 6, 2, 2], values: values(24, 0)).depthToSpace2x())
    }

    /// The first index of the largest z·e_k + b_k, across code chunks (4096) and row blocks (1024), with ties,
    /// NaN and -inf rows.
    func testDotProductArgmaxMatchesTheDirectScan() throws {
        let k = 9000, d = 5, rows = 1030
        var table = values(k * d, 3)
        // Duplicate rows make exact ties: the first index must win, also across a chunk boundary.
        for j in 0..<d { table[5000 * d + j] = table[17 * d + j]; table[8999 * d + j] = table[4100 * d + j] }
        let bias = values(k, 11).map { $0 * 0.01 }
        var z = values(rows * d, 5)
        for j in 0..<d { z[7 * d + j] = .nan }                               // a NaN row: index 0 (first NaN score)
        let search = try DotProductArgmax(table: try Tensor(shape: [k, d], values: table), bias: bias)
        let (idx, best) = try search(try Tensor(shape: [rows, d], values: z))
        for r in 0..<rows {
            var winner = -1, value = -Float.infinity
            for c in 0..<k {
                var acc: Float = 0
                for j in 0..<d { acc += z[r * d + j] * table[c * d + j] }
                let s = acc + bias[c]
                if s.isNaN { winner = c; value = s; break }
                if s > value { value = s; winner = c }
            }
            if r == 7 { XCTAssertEqual(idx[r], 0); XCTAssertTrue(best[r].isNaN); continue }
            // The matmul sums in another order: a different winner is allowed only within rounding of a tie.
            if idx[r] != winner {
                var alt: Float = bias[idx[r]]
                for j in 0..<d { alt += z[r * d + j] * table[idx[r] * d + j] }
                XCTAssertLessThan(abs(alt - value), 1e-5, "row \(r): \(idx[r]) vs \(winner)")
            }
        }
        // Exact ties: rows equal to a duplicated code pick the first copy.
        var probe = [Float](repeating: 0, count: 2 * d)
        for j in 0..<d { probe[j] = table[17 * d + j] * 1000; probe[d + j] = table[4100 * d + j] * 1000 }
        let plain = try DotProductArgmax(table: try Tensor(shape: [k, d], values: table))
        let (tie, _) = try plain(try Tensor(shape: [2, d], values: probe))
        XCTAssertFalse(tie.contains(5000))
        XCTAssertFalse(tie.contains(8999))
        // All scores -inf: torch.argmax gives 0.
        let inf = try DotProductArgmax(table: try Tensor(shape: [3, 1], values: [1, 1, 1]), bias: [-.infinity, -.infinity, -.infinity])
        XCTAssertEqual(try inf(try Tensor(shape: [1, 1], values: [2])).indices, [0])
    }
}
