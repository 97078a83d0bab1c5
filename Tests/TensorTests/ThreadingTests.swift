import XCTest
import Tensor

/// Thread count changes neither results nor correctness.
final class ThreadingTests: XCTestCase {
    override func tearDown() {
        setThreads(0)
        super.tearDown()
    }

    func testResultsDoNotDependOnThreadCount() throws {
        let c = 64, h = 24
        let w = (0..<(c * c * 9)).map { Float(($0 * 7919) % 1000) / 1000 - 0.5 }
        let conv = try ConvolutionKernel(weight: w, shape: [c, c, 3, 3], bias: [Float](repeating: 0.25, count: c),
                                         padding: Padding2D(1), execution: .reference)
        let x = try Tensor(shape: [2, c, h, h], fill: { for i in 0..<$0.count { $0[i] = Float((i * 31) % 997) / 997 - 0.5 } })
        let gamma = [Float](repeating: 1.5, count: c), beta = [Float](repeating: 0.1, count: c)
        func run() throws -> [Float] {
            let y = try conv(try x.to(.nChw16c))
            return try y.groupNorm(groups: 32, gamma: gamma, beta: beta, eps: 1e-6, silu: true).softmax().toArray()
        }
        setThreads(1)
        XCTAssertEqual(Threading.threads, 1)
        let one = try run()
        setThreads(0)
        XCTAssertEqual(Threading.threads, Threading.defaultThreads())
        let all = try run()
        XCTAssertEqual(one, all)
    }
}
