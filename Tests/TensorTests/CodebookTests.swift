import XCTest
import Tensor

/// Tie-breaking and edge cases of the codebook search that fixtures cannot pin down.
final class CodebookTests: XCTestCase {
    func testExactTiesGoToTheFirstIndex() throws {
        // 40 codes in 3 blocks of 16; codes 5, 21 and 37 are identical, so every lane position and block sees the tie.
        var values = [Float]()
        for k in 0..<40 { for d in 0..<3 { values.append(Float(k * 3 + d) * 0.25) } }
        for k in [21, 37] { for d in 0..<3 { values[k * 3 + d] = values[5 * 3 + d] } }
        let search = try CodebookSearch(codes: try Tensor(shape: [40, 3], values: values))
        let z = try Tensor(shape: [2, 3], values: Array(values[(37 * 3)..<(38 * 3)]) + [0.1, 0.2, 0.3])
        for metric in [CodeMetric.squaredEuclidean, .euclidean, .dot] {
            let r = try search.nearest(z, metric: metric)
            if metric != .dot { XCTAssertEqual(r.indices[0], 5, "\(metric)") }
        }
        // Dot product: two identical best codes in different blocks.
        let dotCodes = try Tensor(shape: [20, 2], values: (0..<20).flatMap { k -> [Float] in k == 3 || k == 19 ? [1, 1] : [0.1, 0] })
        let r = try CodebookSearch(codes: dotCodes).nearest(try Tensor(shape: [1, 2], values: [1, 1]), metric: .dot)
        XCTAssertEqual(r.indices, [3])
        XCTAssertEqual(r.scores, [2])
    }

    /// lucidrains ranks by sqrt(max(d, 0)): squared distances 4 and 4 + 2^-21 share the root 2, so the first code
    /// wins there, while the squared form picks the second (checked against PyTorch 2.x by hand).
    func testSquareRootTiesGoToTheFirstIndex() throws {
        // Padded to 40 codes so that the tie spans blocks: code 0 is the near-tie, code 33 the exact 4.
        var values = [Float](repeating: 9, count: 80)
        values[0] = 2; values[1] = 1.5 * 0x1p-11
        values[66] = 2; values[67] = 0
        let search = try CodebookSearch(codes: try Tensor(shape: [40, 2], values: values))
        let z = try Tensor(shape: [1, 2], values: [0, 0])
        XCTAssertEqual(try search.nearest(z, metric: .squaredEuclidean).indices, [33])
        let r = try search.nearest(z, metric: .euclidean)
        XCTAssertEqual(r.indices, [0])
        XCTAssertEqual(r.scores, [2])
        // Negative squared distances clamp to 0 and tie as well: the first index wins.
        let c2 = try CodebookSearch(codes: try Tensor(shape: [2, 1], values: [1, 1]))
        XCTAssertEqual(try c2.nearest(try Tensor(shape: [1, 1], values: [1]), metric: .euclidean).indices, [0])
    }

    func testInfiniteAndNaNRowsFollowTorch() throws {
        let search = try CodebookSearch(codes: try Tensor(shape: [3, 1], values: [0, 1, 2]))
        // All distances +inf: torch.argmin returns 0.
        XCTAssertEqual(try search.nearest(try Tensor(shape: [1, 1], values: [.infinity]), metric: .squaredEuclidean).indices, [0])
        // A NaN code: NaN distance wins at its index.
        let withNaN = try CodebookSearch(codes: try Tensor(shape: [3, 1], values: [5, .nan, 0]))
        XCTAssertEqual(try withNaN.nearest(try Tensor(shape: [1, 1], values: [0]), metric: .squaredEuclidean).indices, [1])
        XCTAssertEqual(try withNaN.nearest(try Tensor(shape: [1, 1], values: [1]), metric: .dot).indices, [1])
    }

    func testNaNWinsLikeTorch() throws {
        let codes = try Tensor(shape: [3, 1], values: [0, 1, 2])
        let r = try CodebookSearch(codes: codes).nearest(try Tensor(shape: [1, 1], values: [.nan]), metric: .squaredEuclidean)
        XCTAssertEqual(r.indices, [0])
    }

    func testDimensionMismatchThrows() throws {
        let search = try CodebookSearch(codes: try Tensor(shape: [3, 2], values: [0, 0, 1, 1, 2, 2]))
        XCTAssertThrowsError(try search.nearest(try Tensor(shape: [1, 3], values: [0, 0, 0]), metric: .dot))
        XCTAssertThrowsError(try Tensor.gatherRows(try Tensor(shape: [3, 2], values: [0, 0, 1, 1, 2, 2]), [3]))
    }
}
