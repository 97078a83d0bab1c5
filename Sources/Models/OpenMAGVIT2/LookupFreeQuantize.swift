// Open-MAGVIT2 `LFQ` (src/Open_MAGVIT2/modules/vqvae/lookup_free_quantize.py), eval path, token_factorization off
// (the image tokenizers' setting). Each of the D = log2(codebook_size) channels is one bit:
//   quantized = where(x > 0, 1, -1)                 (an exact 0, -0 and NaN give -1, bit 0)
//   index     = Σ_d [x_d > 0] · 2^d                  (channel 0 is the least significant bit)
// The 2^D-entry codebook (`bits * 2 - 1` of every index) is implicit: vqrt never builds it (upstream allocates
// 2^18 x 18 floats as a non-persistent buffer). `get_codebook_entry` maps an index back to its ±1 vector.
// The module has no weights (mask and codebook are non-persistent buffers).

import Tensor

public final class LFQ: @unchecked Sendable {
    /// Bits per code (= the latent channels).
    public let codebookDim: Int
    public var codebookSize: Int { 1 << codebookDim }

    public init(codebookDim: Int) throws {
        // Codes are int64 on disk and Int here; 2^30 keeps sizes and usage metrics sane.
        guard (1...30).contains(codebookDim) else {
            throw ModelError.badConfig("LFQ with \(codebookDim) bits (1...30 supported)")
        }
        self.codebookDim = codebookDim
    }

    /// `x`: [N, D, h, w]. Codes in (n, h, w) order and each position's squared distance ‖x − quantized‖².
    public func codes(_ x: Tensor) throws -> (codes: [Int], error: [Float]) {
        guard x.rank == 4, x.shape[1] == codebookDim else {
            throw TensorError.shapeMismatch("LFQ of \(codebookDim) bits expects [N, \(codebookDim), h, w], got \(x.shape)")
        }
        let p = x.plain()
        let n = p.shape[0], d = codebookDim, hw = p.shape[2] * p.shape[3]
        var codes = [Int](repeating: 0, count: n * hw)
        var error = [Float](repeating: 0, count: n * hw)
        let src = p.pointer
        for b in 0..<n {
            for bit in 0..<d {
                let plane = src + (b * d + bit) * hw
                for i in 0..<hw {
                    let v = plane[i]
                    let positive = v > 0
                    if positive { codes[b * hw + i] |= 1 << bit }
                    let e = v - (positive ? 1 : -1)
                    error[b * hw + i] += e * e
                }
            }
        }
        return (codes, error)
    }

    /// `get_codebook_entry`: the ±1 vectors of `codes` as [N, D, h, w].
    public func entries(_ codes: [Int], n: Int, h: Int, w: Int) throws -> Tensor {
        guard codes.count == n * h * w else { throw ModelError.badCodes("\(codes.count) codes for [\(n), \(h), \(w)]") }
        let d = codebookDim, hw = h * w
        return try Tensor(shape: [n, d, h, w]) { out in
            for b in 0..<n {
                for bit in 0..<d {
                    for i in 0..<hw {
                        out[(b * d + bit) * hw + i] = (codes[b * hw + i] >> bit) & 1 == 1 ? 1 : -1
                    }
                }
            }
        }
    }
}
