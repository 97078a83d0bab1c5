import Foundation
import Tensor
import XCTest

/// Results do not depend on the batch an image comes in or on the thread count (cli.md): attention and linear layers
/// run image by image in fixed row blocks (oneDNN), or on vqrt's packed gemm whose sums do not depend on the rows
/// around them, so each image of a batch gets exactly the bits it gets alone. Both routes are tested where the CPU
/// runs both.
final class AttentionBatchingTests: XCTestCase {
    /// `body` once on each route this CPU has: oneDNN's blocks, and vqrt's packed gemm where it runs.
    func onEachRoute(_ body: () throws -> Void) rethrows {
        defer { usePackedGEMM(nil) }
        for packed in [false, true] {
            usePackedGEMM(packed)
            if packed && !usesPackedGEMM { continue }   // no AVX2 + FMA
            try body()
        }
    }

    func values(_ count: Int, _ seed: Int) -> [Float] { (0..<count).map { Float(sin(Double($0 * 13 + seed) * 0.07)) } }

    /// `run` on the whole batch, and on each image alone: the slices must be identical.
    func assertImagesIndependent(_ shape: [Int], layout: TensorLayout = .plain, seed: Int = 1,
                                 _ run: (Tensor) throws -> Tensor, file: StaticString = #filePath, line: UInt = #line) throws {
        let n = shape[0], per = shape.dropFirst().reduce(1, *)
        let all = values(n * per, seed)
        let whole = try run(try Tensor(shape: shape, values: all).to(layout)).plain().toArray()
        XCTAssertEqual(whole.count % n, 0, file: file, line: line)
        let outPer = whole.count / n
        // Each image alone, with every thread count: one thread, all cores, more threads than cores.
        defer { setThreads(0) }
        for threads in [1, 0, 3] {
            setThreads(threads)
            for i in 0..<n {
                let alone = try run(try Tensor(shape: [1] + shape.dropFirst(), values: Array(all[(i * per)..<((i + 1) * per)])).to(layout))
                    .plain().toArray()
                XCTAssertEqual(alone, Array(whole[(i * outPer)..<((i + 1) * outPer)]), "image \(i), \(threads) threads", file: file, line: line)
            }
        }
    }

    func testMultiHeadAttentionOfEachImageIsItsAttentionAlone() throws {
        let n = 40, h = 4, d = 8
        try onEachRoute {
            try assertImagesIndependent([3, n, 3 * h * d]) { try Tensor.multiHeadAttention(qkv: $0, heads: h, scale: 0.35) }
            // Several query blocks per head, the last one short.
            let many = 2 * Tensor.attentionQueryBlock + 22
            try assertImagesIndependent([2, many, 3 * h * d]) { try Tensor.multiHeadAttention(qkv: $0, heads: h, scale: 0.35) }
        }
    }

    func testSpatialAttentionOfEachImageIsItsAttentionAlone() throws {
        let c = 16, side = 6
        try onEachRoute {
            try assertImagesIndependent([3, 3 * c, side, side], layout: .nhwc) { try Tensor.spatialAttention(qkv: $0, scale: 0.25) }
            // 144 queries, three blocks: one image alone has fewer heads than threads, so the packed route splits
            // its query blocks between tasks.
            try assertImagesIndependent([2, 3 * c, 12, 12], layout: .nhwc) { try Tensor.spatialAttention(qkv: $0, scale: 0.25) }
        }
    }

    func testLinearRowsOfEachImageAreTheirRowsAlone() throws {
        let inF = 300, outF = 80   // K over more than two of the packed gemm's K blocks
        try onEachRoute {
            let k = try LinearKernel(weight: values(outF * inF, 5).map { $0 * 0.1 }, outFeatures: outF, inFeatures: inF,
                                     bias: values(outF, 6))
            try assertImagesIndependent([5, 37, inF]) { try k($0) }   // tokens of 5 images
            try assertImagesIndependent([2, 300, inF]) { try k($0) }  // several row blocks per image
            try assertImagesIndependent([8, inF]) { try k($0) }       // one feature vector per image (Inception's fc)
        }
    }
}
