// The machine's dense float32 GEMM rate, measured: the yardstick the performance issue sets convolutions against
// ("convolution layers at 70% or more of the measured GEMM peak"). oneDNN's sgemm and its matmul primitive (the
// kernels PyTorch's CPU build also calls) run square products of a few sizes on the current thread count; the best
// rate of several repeats is the peak.
import CDNNL
import Foundation

public enum GEMMPeak {
    public struct Result: Sendable {
        public let gflopsPerSecond: Double
        /// What achieved it, e.g. "sgemm 2048".
        public let kernel: String
    }

    public static func measure(sizes: [Int] = [1024, 2048], repeats: Int = 5) throws -> Result {
        Threading.applyToOpenMP()
        var best = Result(gflopsPerSecond: 0, kernel: "none")
        for n in sizes {
            let a = Tensor(uninitialized: [n, n]), b = Tensor(uninitialized: [n, n]), c = Tensor(uninitialized: [n, n])
            for i in 0..<(n * n) { a.pointer[i] = Float(i % 7) * 0.25; b.pointer[i] = Float(i % 5) * 0.5 }
            let flops = 2 * Double(n) * Double(n) * Double(n)
            func rate(of body: () throws -> Void) rethrows -> Double {
                try body()   // warm-up: jit code generation, page faults
                var fastest = Double.infinity
                for _ in 0..<repeats {
                    let t = DispatchTime.now().uptimeNanoseconds
                    try body()
                    fastest = min(fastest, Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9)
                }
                return flops / fastest / 1e9
            }
            let sgemm = try rate {
                let s = dnnl_sgemm(CChar(UInt8(ascii: "N")), CChar(UInt8(ascii: "N")), Int64(n), Int64(n), Int64(n), 1,
                                   a.pointer, Int64(n), b.pointer, Int64(n), 0, c.pointer, Int64(n))
                try DNNL.check(s, "sgemm \(n)")
            }
            if sgemm > best.gflopsPerSecond { best = Result(gflopsPerSecond: sgemm, kernel: "oneDNN sgemm \(n)") }
            let view = { (t: Tensor) in MatrixView.dense(t.pointer, [n, n]) }
            let matmul = try rate { try stridedMatmul(view(a), view(b), into: view(c), alpha: 1) }
            if matmul > best.gflopsPerSecond { best = Result(gflopsPerSecond: matmul, kernel: "oneDNN matmul \(n)") }
        }
        return best
    }
}
