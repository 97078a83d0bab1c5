import CKernels
import Foundation
import Tensor
import XCTest

/// vqrt's packed gemm (Sources/CKernels/sgemm_packed.c): every element is the sequence of float32 operations its
/// header states (products fused-multiply-added in order from zero within blocks of 128, block sums added in order,
/// then · alpha, + bias, + C's old value), whatever the shape around it; hence the same bits for a row whatever
/// batch and blocks it is computed in. Layers built on it agree with oneDNN's route within the summation bound.
final class PackedGEMMTests: XCTestCase {
    /// Values of mixed signs and magnitudes (2^-6 ... 2^3), so that sums round differently in different orders.
    func values(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed &* 6364136223846793005 &+ 1442695040888963407
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let u = Float(state >> 40) / Float(1 << 24)
            return (u - 0.5) * Float(1 << Int((state >> 20) % 10)) / 64
        }
    }

    /// The header's order, one element at a time. `b` is K×N row-major.
    func reference(m: Int, n: Int, k: Int, a: [Float], lda: Int, b: [Float], alpha: Float, bias: [Float]?,
                   old: [Float]?) -> [Float] {
        let block = Int(VQRT_GEMM_K_BLOCK)
        var c = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var total: Float = 0
                for k0 in stride(from: 0, to: k, by: block) {
                    var sum: Float = 0
                    for p in k0..<min(k, k0 + block) { sum = sum.addingProduct(a[i * lda + p], b[p * n + j]) }
                    total = k0 == 0 ? sum : total + sum
                }
                var v = total * alpha
                if let bias { v = v + bias[j] }
                if let old { v = v + old[i * n + j] }
                c[i * n + j] = v
            }
        }
        return c
    }

    /// The kernel on A (m×k, rows `lda` apart) and row-major B; `old`: C's previous contents (accumulate).
    func packedProduct(m: Int, n: Int, k: Int, a: [Float], lda: Int, b: [Float], alpha: Float, bias: [Float]?,
                       old: [Float]?) -> [Float] {
        var packed = [Float](repeating: .nan, count: max(1, vqrt_gemm_packed_count(k, n)))
        var work = [Float](repeating: .nan, count: max(1, vqrt_gemm_work_count(m, n, k, old == nil ? 0 : 1)))
        var c = old ?? [Float](repeating: .nan, count: m * n)
        b.withUnsafeBufferPointer { vqrt_gemm_pack_b($0.baseAddress, n, 1, k, n, &packed) }
        a.withUnsafeBufferPointer { a in
            vqrt_gemm_packed(m, n, k, a.baseAddress, lda, packed, &c, n, alpha, bias, old == nil ? 0 : 1, &work)
        }
        return c
    }

    func requireKernel() throws {
        guard vqrt_gemm_available() != 0 else { throw XCTSkip("this CPU has no AVX2 + FMA: the packed gemm is not used") }
    }

    func testEveryElementIsTheStatedSequenceOfOperations() throws {
        try requireKernel()
        // Shapes around the tile (6 rows x 16 columns) and K block (128) edges, and an empty K.
        let shapes = [(1, 1, 1), (5, 17, 128), (6, 16, 129), (13, 33, 300), (7, 64, 1024), (64, 40, 64), (3, 5, 0)]
        for (m, n, k) in shapes {
            let lda = k + 3   // rows of A apart, as in a fused q|k|v projection
            let a = values(m * lda, seed: 1), b = values(k * n, seed: 2)
            for (alpha, bias, old) in [(Float(1), nil, nil), (0.125, values(n, seed: 3), nil),
                                       (1, values(n, seed: 4), values(m * n, seed: 5)), (1, nil, values(m * n, seed: 6))] {
                let got = packedProduct(m: m, n: n, k: k, a: a, lda: lda, b: b, alpha: alpha, bias: bias, old: old)
                let want = reference(m: m, n: n, k: k, a: a, lda: lda, b: b, alpha: alpha, bias: bias, old: old)
                XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern),
                               "\(m)x\(k)x\(n), alpha \(alpha), bias \(bias != nil), accumulate \(old != nil)")
            }
        }
    }

    func testARowGetsTheSameBitsAloneAndAmongOthers() throws {
        try requireKernel()
        let m = 50, n = 70, k = 260
        let a = values(m * k, seed: 7), b = values(k * n, seed: 8), bias = values(n, seed: 9)
        let all = packedProduct(m: m, n: n, k: k, a: a, lda: k, b: b, alpha: 1, bias: bias, old: nil)
        for i in [0, 5, 6, 31, 49] {
            let alone = packedProduct(m: 1, n: n, k: k, a: Array(a[(i * k)..<((i + 1) * k)]), lda: k, b: b, alpha: 1,
                                      bias: bias, old: nil)
            XCTAssertEqual(alone.map(\.bitPattern), all[(i * n)..<((i + 1) * n)].map(\.bitPattern), "row \(i)")
        }
    }

    /// Linear layers on the two routes, with and without a residual added inside, against float64: both within
    /// the bound of a blocked float32 sum (K/block + block + 3 roundings of Σ|x·w| + |b| + |residual|).
    func testLinearLayerOnEitherRouteIsWithinTheSummationBound() throws {
        try requireKernel()
        let rows = 23, inF = 520, outF = 40
        let w = values(outF * inF, seed: 10), bias = values(outF, seed: 11)
        let x = values(rows * inF, seed: 12), residual = values(rows * outF, seed: 13)
        let u = Double(Float.ulpOfOne) / 2
        let roundings = Double(inF / Int(VQRT_GEMM_K_BLOCK) + Int(VQRT_GEMM_K_BLOCK) + 3)
        defer { usePackedGEMM(nil) }
        for packed in [false, true] {
            usePackedGEMM(packed)
            let layer = try LinearKernel(weight: w, outFeatures: outF, inFeatures: inF, bias: bias)
            XCTAssertEqual(try layer.implementation(rows: rows).hasPrefix("vqrt packed gemm"), packed)
            for withResidual in [false, true] {
                let input = try Tensor(shape: [rows, inF], values: x)
                let got = try layer(input, residual: withResidual ? try Tensor(shape: [rows, outF], values: residual) : nil).toArray()
                for i in 0..<rows {
                    for j in 0..<outF {
                        var exact = Double(bias[j]), magnitude = abs(Double(bias[j]))
                        for p in 0..<inF {
                            exact += Double(x[i * inF + p]) * Double(w[j * inF + p])
                            magnitude += abs(Double(x[i * inF + p]) * Double(w[j * inF + p]))
                        }
                        if withResidual { exact += Double(residual[i * outF + j]); magnitude += abs(Double(residual[i * outF + j])) }
                        XCTAssertLessThanOrEqual(abs(Double(got[i * outF + j]) - exact), roundings * u * magnitude,
                                                 "packed \(packed), residual \(withResidual), [\(i), \(j)]")
                    }
                }
            }
        }
    }
}
