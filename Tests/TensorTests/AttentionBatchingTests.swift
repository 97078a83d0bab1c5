import Foundation
import Tensor
import XCTest

/// Attention of large batches runs image by image (to keep the scores in cache); the result must not change.
final class AttentionBatchingTests: XCTestCase {
    func testImageByImageAttentionEqualsTheWholeBatch() throws {
        let b = 3, n = 40, h = 4, d = 8
        func values(_ count: Int, _ seed: Int) -> [Float] { (0..<count).map { Float(sin(Double($0 * 13 + seed) * 0.07)) } }
        let qkv = try Tensor(shape: [b, n, 3 * h * d], values: values(b * n * 3 * h * d, 1))
        let saved = ConvolutionKernel.attentionScoresBudgetFloats
        defer { ConvolutionKernel.attentionScoresBudgetFloats = saved }
        let whole = try Tensor.multiHeadAttention(qkv: qkv, heads: h, scale: 0.35).toArray()
        ConvolutionKernel.attentionScoresBudgetFloats = 0
        let perImage = try Tensor.multiHeadAttention(qkv: qkv, heads: h, scale: 0.35).toArray()
        XCTAssertEqual(whole.count, b * n * h * d)
        let worst = zip(whole, perImage).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThan(worst, 1e-6)
        // Each image's result depends on that image only: a batch of its first image alone gives its first rows.
        let first = try Tensor(shape: [1, n, 3 * h * d], values: Array(qkv.toArray()[0..<(n * 3 * h * d)]))
        let alone = try Tensor.multiHeadAttention(qkv: first, heads: h, scale: 0.35).toArray()
        XCTAssertLessThan(zip(alone, whole[0..<(n * h * d)]).map { abs($0 - $1) }.max() ?? .infinity, 1e-6)
    }

    func testImageByImageSpatialAttentionEqualsTheWholeBatch() throws {
        let b = 3, c = 16, side = 6
        let qkv = try Tensor(shape: [b, 3 * c, side, side],
                             values: (0..<(b * 3 * c * side * side)).map { Float(cos(Double($0) * 0.031)) }).to(.nhwc)
        let saved = ConvolutionKernel.attentionScoresBudgetFloats
        defer { ConvolutionKernel.attentionScoresBudgetFloats = saved }
        let whole = try Tensor.spatialAttention(qkv: qkv, scale: 0.25).plain().toArray()
        ConvolutionKernel.attentionScoresBudgetFloats = 0
        let perImage = try Tensor.spatialAttention(qkv: qkv, scale: 0.25).plain().toArray()
        XCTAssertEqual(whole.count, b * c * side * side)
        XCTAssertLessThan(zip(whole, perImage).map { abs($0 - $1) }.max() ?? .infinity, 1e-6)
    }
}
