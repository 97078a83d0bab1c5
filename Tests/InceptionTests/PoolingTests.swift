// The pooling and concatenation kernels the Inception port adds to Tensor, on values small enough to check by hand
// (divisors 4 / 6 / 9 of count_include_pad=False, padding that never wins a max, layouts).
import Tensor
import XCTest

final class PoolingTests: XCTestCase {
    /// [1, 17, 3, 4]: channel c holds c*100 + (row*4 + col); 17 channels exercise a partial 16-channel block.
    func sample() throws -> Tensor {
        var values = [Float]()
        for i in 0..<(17 * 12) {
            let channel = i / 12, position = i % 12
            values.append(Float(channel * 100 + position))
        }
        return try Tensor(shape: [1, 17, 3, 4], values: values)
    }

    func testAveragePoolDivisors() throws {
        for layout in [TensorLayout.plain, .nChw16c] {
            let x = try sample().to(layout)
            let excl = try x.avgPool2d(kernel: 3, stride: 1, padding: 1, countIncludePad: false)
            let incl = try x.avgPool2d(kernel: 3, stride: 1, padding: 1, countIncludePad: true)
            XCTAssertEqual(excl.shape, [1, 17, 3, 4])
            for c in [0, 16] {
                let b = Float(c * 100)
                // Corner (0,0): values 0,1,4,5 -> 4 taps. Edge (0,1): 0,1,2,4,5,6 -> 6 taps. Centre (1,1): 9 taps.
                XCTAssertEqual(excl[[0, c, 0, 0]], (4 * b + 10) / 4)
                XCTAssertEqual(excl[[0, c, 0, 1]], (6 * b + 18) / 6)
                XCTAssertEqual(excl[[0, c, 1, 1]], (9 * b + 45) / 9)
                XCTAssertEqual(incl[[0, c, 0, 0]], (4 * b + 10) / 9)
            }
        }
    }

    func testMaxPoolAndReLUFusion() throws {
        let x = try sample().scaled(by: -1)     // all values <= 0
        let m = try x.maxPool2d(kernel: 3, stride: 1, padding: 1)
        XCTAssertEqual(m[[0, 3, 0, 0]], -300)     // padding never wins
        XCTAssertEqual(m[[0, 3, 2, 3]], -306)     // window rows 1-2, cols 2-3: -306, -307, -310, -311
        let r = try x.maxPool2d(kernel: 3, stride: 1, padding: 1, reluInput: true)
        XCTAssertEqual(r.toArray(), m.relu().toArray())
        let s2 = try sample().maxPool2d(kernel: 3, stride: 2)
        XCTAssertEqual(s2.shape, [1, 17, 1, 1])
        XCTAssertEqual(s2[[0, 16, 0, 0]], 1610)   // rows 0-2, cols 0-2 of channel 16: max is 1600 + 10
        XCTAssertThrowsError(try sample().maxPool2d(kernel: 3, stride: 1, padding: 2))   // pad > kernel / 2
        XCTAssertThrowsError(try Tensor(zeros: [1, 1, 2, 2]).maxPool2d(kernel: 3, stride: 1))
    }

    func testGlobalAverageAndConcat() throws {
        let x = try sample()
        let g = try x.scaled(by: -1).globalAveragePool(reluInput: true)
        XCTAssertEqual(g.toArray(), [Float](repeating: 0, count: 17))
        let g2 = try x.globalAveragePool()
        XCTAssertEqual(g2.shape, [1, 17])
        XCTAssertEqual(g2.toArray()[16], 1600 + 5.5)
        let blocked = try x.to(.nChw16c)
        let a = try Tensor.concatChannels([blocked, blocked], relu: false)   // 17 channels: falls back to plain
        XCTAssertEqual(a.shape, [1, 34, 3, 4])
        XCTAssertEqual(a[[0, 20, 1, 2]], x[[0, 3, 1, 2]])
        let ramp: [Float] = (0..<128).map { Float($0) - 64 }
        let y = try Tensor(shape: [2, 16, 2, 2], values: ramp).to(.nChw16c)
        let c = try Tensor.concatChannels([y, y.scaled(by: 2)], relu: true)
        XCTAssertEqual(c.layout, .nChw16c)
        XCTAssertEqual(c[[1, 16 + 5, 1, 0]], max(0, 2 * y[[1, 5, 1, 0]]))
        XCTAssertEqual(c[[0, 2, 0, 1]], max(0, y[[0, 2, 0, 1]]))
        XCTAssertThrowsError(try Tensor.concatChannels([y, try Tensor(zeros: [2, 16, 3, 2])]))
    }
}
