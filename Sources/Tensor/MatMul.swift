// Matrix products through oneDNN's matmul primitive (same OpenMP thread pool as the convolutions), and float32
// linear layers on vqrt's packed gemm where it is used (PackedGEMM.swift).
import CDNNL
import CKernels
import Foundation

/// y = x·Wᵀ + b over the last dimension (torch.nn.Linear): in float32 on AVX2 CPUs by vqrt's own gemm over weights
/// packed once (PackedGEMM.swift), otherwise by oneDNN in fixed row blocks (BlockedMatmul.swift).
public final class LinearKernel: @unchecked Sendable {
    public let inFeatures: Int
    public let outFeatures: Int
    private let bias: TensorStorage?
    /// For oneDNN: PyTorch's `[out, in]`, read as the K×N matrix B with strides (1, K); in native bf16 a bfloat16
    /// copy. nil where `packed` holds the weights instead.
    private let weights: TensorStorage?
    private let weightType: dnnl_data_type_t
    /// For vqrt's own gemm (float32 where PackedMatrix.isUsed): B packed once.
    private let packed: PackedMatrix?

    /// Precision and output rounding, fixed when the kernel is built.
    public let execution: ExecutionConfig

    /// This kernel's precision (see Precision.swift). bf16: the input is converted to bfloat16 on each call
    /// (oneDNN reorder, round to nearest even), the weights once; float32 accumulation, bias and output.
    public var precision: Precision { execution.precision }

    /// `weight` is PyTorch's `[out, in]` in C order; `bias` has `out` values or is nil.
    public init(weight: [Float], outFeatures: Int, inFeatures: Int, bias: [Float]?,
                execution: ExecutionConfig = .default) throws {
        guard outFeatures > 0, inFeatures > 0, weight.count == outFeatures * inFeatures else {
            throw TensorError.shapeMismatch("linear weight [\(outFeatures), \(inFeatures)] with \(weight.count) values")
        }
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.execution = execution
        if let b = bias {
            guard b.count == outFeatures else {
                throw TensorError.shapeMismatch("linear bias has \(b.count) values, expected \(outFeatures)")
            }
            let s = TensorStorage(uninitialized: b.count)
            b.withUnsafeBufferPointer { s.pointer.update(from: $0.baseAddress!, count: b.count) }
            self.bias = s
        } else {
            self.bias = nil
        }
        let w = TensorStorage(uninitialized: weight.count)
        weight.withUnsafeBufferPointer { w.pointer.update(from: $0.baseAddress!, count: weight.count) }
        weightType = execution.precision.operandType
        // PyTorch's [out, in] is B = Wᵀ: element (k, n) at n·in + k.
        packed = execution.precision == .fp32 && PackedMatrix.isUsed
            ? PackedMatrix(w.pointer, kStride: 1, nStride: inFeatures, k: inFeatures, n: outFeatures) : nil
        switch (execution.precision, Precision.nativeBFloat16) {
        case (.fp32, _):
            weights = packed == nil ? w : nil
        case (.bf16, false):
            roundToBFloat16(w.pointer, count: weight.count)   // emulated: bfloat16 values in float32
            weights = w
        case (.bf16, true):
            weights = try convertToBFloat16(w, count: weight.count)
        }
    }

    /// The weights as the K×N operand B, shared by every batch entry (stride 0).
    private func weightOperand(batch: Int, _ weights: TensorStorage) -> MatrixOperand {
        MatrixOperand(UnsafeMutableRawPointer(weights.pointer), dims: [batch, inFeatures, outFeatures],
                      strides: [0, 1, inFeatures], type: weightType)
    }

    /// Applies the layer to a plain tensor `[..., in]`; `residual` (shape `[..., out]`) is added inside the matmul.
    /// A tensor of rank 2 or more is a batch along its first dimension: each entry's rows are computed apart, in the
    /// same blocks whatever batch they come in (cli.md: results do not depend on --batch-size).
    public func callAsFunction(_ x: Tensor, residual: Tensor? = nil) throws -> Tensor {
        guard x.rank >= 1, x.shape.last == inFeatures else {
            throw TensorError.shapeMismatch("linear expects [..., \(inFeatures)], got \(x.shape)")
        }
        let xp = x.plain()
        let outShape = Array(x.shape.dropLast()) + [outFeatures]
        if let r = residual, r.shape != outShape {
            throw TensorError.shapeMismatch("residual \(r.shape) does not match linear output \(outShape)")
        }
        let out = Tensor(uninitialized: outShape)
        let batch = x.rank >= 2 ? x.shape[0] : 1
        let rows = batch > 0 ? x.count / inFeatures / batch : 0
        if rows == 0 { return out }
        if let r = residual { out.pointer.update(from: r.plain().pointer, count: out.count) }
        var source = xp.storage
        switch (precision, Precision.nativeBFloat16) {
        case (.fp32, _): break
        case (.bf16, false): source = Profiler.measure("linear input to bf16 values") { bfloat16RoundedCopy(xp.pointer, count: xp.count) }
        case (.bf16, true): source = try Profiler.measure("linear input to bf16") { try convertToBFloat16(xp.storage, count: xp.count) }
        }
        let a = MatrixOperand(UnsafeMutableRawPointer(source.pointer), dims: [batch, rows, inFeatures],
                              strides: [rows * inFeatures, inFeatures, 1], type: weightType)
        let c = MatrixOperand(UnsafeMutableRawPointer(out.pointer), dims: [batch, rows, outFeatures],
                              strides: [rows * outFeatures, outFeatures, 1])
        try Profiler.measure(precision == .bf16 ? "linear bf16" : "linear",
                             flops: 2 * Double(batch * rows) * Double(inFeatures) * Double(outFeatures)) {
            if let packed {
                packed.multiply(source.pointer, rows: batch * rows, into: out.pointer, bias: bias?.pointer,
                                accumulate: residual != nil)
            } else if let weights {
                try BlockedMatmul.run(a, weightOperand(batch: batch, weights), into: c, bias: bias?.pointer,
                                      accumulate: residual != nil, blockRows: LinearKernel.rowsPerBlock(rows), what: "linear")
            }
        }
        withExtendedLifetime(source) {}
        if precision == .bf16, execution.roundsBFloat16Outputs { roundToBFloat16(out.pointer, count: out.count) }
        return out
    }

    /// Rows per block for an image's `rows` rows: a function of one image's rows only (the batch dimension counts
    /// images), about 16 blocks for an image's tokens, at least 64 rows each.
    static func rowsPerBlock(_ rows: Int) -> Int { BlockedMatmul.rowsPerBlock(rows: rows, batches: 1) }

    /// Implementation used for `rows` input rows (diagnostics).
    public func implementation(rows: Int) throws -> String {
        guard let weights else { return PackedMatrix.implementation }
        let dummy = UnsafeMutableRawPointer(weights.pointer)
        return try BlockedMatmul.implementation(
            MatrixOperand(dummy, dims: [1, rows, inFeatures], strides: [rows * inFeatures, inFeatures, 1], type: weightType),
            weightOperand(batch: 1, weights),
            into: MatrixOperand(dummy, dims: [1, rows, outFeatures], strides: [rows * outFeatures, outFeatures, 1]),
            blockRows: LinearKernel.rowsPerBlock(rows))
    }
}

/// A `[batch..., rows, cols]` matrix view: base pointer and element strides (any, including transposed views).
struct MatrixView {
    let pointer: UnsafeMutablePointer<Float>
    let dims: [Int]
    let strides: [Int]

    /// A dense row-major view.
    static func dense(_ p: UnsafeMutablePointer<Float>, _ dims: [Int]) -> MatrixView {
        var strides = [Int](repeating: 1, count: dims.count)
        for i in stride(from: dims.count - 2, through: 0, by: -1) { strides[i] = strides[i + 1] * dims[i + 1] }
        return MatrixView(pointer: p, dims: dims, strides: strides)
    }
}

/// C = alpha · A·B for `[batch..., m, k]` A and `[batch..., k, n]` B views into a `[batch..., m, n]` C view, in
/// fixed row blocks (BlockedMatmul.swift). In bf16 precision A and B are first converted into dense bfloat16 copies
/// (oneDNN reorders, round to nearest even); the product accumulates in float32 and C stays float32.
func stridedMatmul(_ a: MatrixView, _ b: MatrixView, into c: MatrixView, alpha: Float,
                   precision: Precision = .fp32, roundsBFloat16Outputs: Bool = false, profiled: Bool = true) throws {
    var aOperand = MatrixOperand(a), bOperand = MatrixOperand(b)
    var copies: [TensorStorage] = []
    if precision == .bf16 {
        // Dense copies of A and B, in bfloat16 (or rounded float32 where bf16 is emulated).
        func dense(_ v: MatrixView) throws -> MatrixOperand {
            let copy = try Profiler.measure("matmul operand to bf16") { try bfloat16Copy(v) }
            copies.append(copy)
            let d = MatrixView.dense(copy.pointer, v.dims)
            return MatrixOperand(UnsafeMutableRawPointer(copy.pointer), dims: d.dims, strides: d.strides, type: precision.operandType)
        }
        aOperand = try dense(a)
        bOperand = try dense(b)
    }
    // 2·M·N·K per matrix of the batch.
    let flops = 2 * Double(c.dims.reduce(1, *)) * Double(a.dims.last ?? 0)
    let run = { try BlockedMatmul.run(aOperand, bOperand, into: MatrixOperand(c), alpha: alpha, what: precision == .bf16 ? "bf16 matmul" : "matmul") }
    if profiled {
        try Profiler.measure(precision == .bf16 ? "matmul bf16" : "matmul", flops: flops) { try run() }
    } else {
        try run()   // part of a kernel that is timed as a whole
    }
    if precision == .bf16, roundsBFloat16Outputs {
        // C may be a strided view into a larger tensor: round exactly its elements.
        roundToBFloat16(view: c)
    }
    withExtendedLifetime(copies) {}
}

/// A dense copy of `v`'s elements as bf16 operands: bfloat16 where oneDNN has bf16 kernels, float32 values rounded
/// to bfloat16 where it emulates them.
private func bfloat16Copy(_ v: MatrixView) throws -> TensorStorage {
    let count = v.dims.reduce(1, *)
    let from = try DNNL.md(v.dims, strides: v.strides)
    let plain = try DNNL.md(v.dims, DNNL.plainTag(v.dims.count), Precision.bf16.operandType)
    let copy = TensorStorage(uninitialized: (DNNL.size(plain) + 3) / 4)
    try DNNLPrimitive.reorder(from: from, to: plain).execute([(Int32(DNNL_ARG_FROM), from, UnsafeMutableRawPointer(v.pointer)),
                                                              (Int32(DNNL_ARG_TO), plain, UnsafeMutableRawPointer(copy.pointer))])
    if !Precision.nativeBFloat16 { roundToBFloat16(copy.pointer, count: count) }
    return copy
}

/// `count` float32 values converted to bfloat16 (round to nearest even) by a oneDNN reorder.
private func convertToBFloat16(_ values: TensorStorage, count: Int) throws -> TensorStorage {
    let from = try DNNL.md([count], dnnl_a), to = try DNNL.md([count], dnnl_a, dnnl_bf16)
    let copy = TensorStorage(uninitialized: (count + 1) / 2)
    try DNNLPrimitive.reorder(from: from, to: to).execute([(Int32(DNNL_ARG_FROM), from, UnsafeMutableRawPointer(values.pointer)),
                                                          (Int32(DNNL_ARG_TO), to, UnsafeMutableRawPointer(copy.pointer))])
    return copy
}

/// `roundToBFloat16` over the elements of a (non-overlapping) view.
private func roundToBFloat16(view c: MatrixView) {
    let count = c.dims.reduce(1, *)
    if count == 0 { return }
    let span = 1 + zip(c.dims, c.strides).map { ($0 - 1) * $1 }.reduce(0, +)
    if span == count { roundToBFloat16(c.pointer, count: count); return }   // a permutation of a dense block
    var index = [Int](repeating: 0, count: c.dims.count)
    for _ in 0..<count {
        let offset = zip(index, c.strides).map { $0 * $1 }.reduce(0, +)
        roundToBFloat16(c.pointer + offset, count: 1)
        var axis = c.dims.count - 1
        while axis >= 0 {
            index[axis] += 1
            if index[axis] < c.dims[axis] { break }
            index[axis] = 0
            axis -= 1
        }
    }
}

extension Tensor {
    /// Batched matrix product `alpha · op(A)·op(B)` of plain tensors: A is `[B, M, K]` (or `[B, K, M]` with
    /// `transposeA`), B is `[B, K, N]` (or `[B, N, K]` with `transposeB`); rank-2 operands are a batch of one.
    /// Like torch.bmm followed by a multiplication by `alpha`; `precision` as for Linear layers (Precision.swift).
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false,
                              alpha: Float = 1, precision: Precision = .fp32) throws -> Tensor {
        guard (a.rank == 3 && b.rank == 3) || (a.rank == 2 && b.rank == 2) else {
            throw TensorError.shapeMismatch("matmul needs two rank-3 (or rank-2) tensors, got \(a.shape) and \(b.shape)")
        }
        let sa = a.rank == 3 ? a.shape : [1] + a.shape, sb = b.rank == 3 ? b.shape : [1] + b.shape
        let batch = sa[0]
        let m = transposeA ? sa[2] : sa[1], k = transposeA ? sa[1] : sa[2]
        let kb = transposeB ? sb[2] : sb[1], n = transposeB ? sb[1] : sb[2]
        guard sb[0] == batch, kb == k else {
            throw TensorError.shapeMismatch("matmul operands \(a.shape) and \(b.shape) do not agree")
        }
        let outShape = a.rank == 3 ? [batch, m, n] : [m, n]
        let out = Tensor(uninitialized: outShape)
        if batch == 0 || m == 0 || n == 0 { return out }
        if k == 0 { out.pointer.update(repeating: 0, count: out.count); return out }
        let ap = a.plain(), bp = b.plain()
        try stridedMatmul(MatrixView(pointer: ap.pointer, dims: [batch, m, k], strides: transposeA ? [m * k, 1, m] : [m * k, k, 1]),
                          MatrixView(pointer: bp.pointer, dims: [batch, k, n], strides: transposeB ? [k * n, 1, k] : [k * n, n, 1]),
                          into: .dense(out.pointer, [batch, m, n]), alpha: alpha, precision: precision)
        return out
    }

    /// Single-head self-attention over the H·W positions of a fused q|k|v projection, as ldm's AttnBlock computes
    /// it: `qkv` is `[B, 3C, H, W]` in nhwc layout (channels [0, C) are q, [C, 2C) k, [2C, 3C) v);
    /// scores = softmax(q·kᵀ · scale) over keys; returns scores·v as `[B, C, H, W]` in nhwc layout.
    /// `precision` and `roundsBFloat16Outputs`: of the two matmuls (ExecutionConfig).
    public static func spatialAttention(qkv: Tensor, scale: Float, precision: Precision = .fp32,
                                        roundsBFloat16Outputs: Bool = false) throws -> Tensor {
        guard qkv.rank == 4, qkv.layout == .nhwc, qkv.shape[1] % 3 == 0 else {
            throw TensorError.shapeMismatch("spatial attention needs an nhwc [B, 3C, H, W] tensor, got \(qkv)")
        }
        let b = qkv.shape[0], c = qkv.shape[1] / 3, hw = qkv.shape[2] * qkv.shape[3]
        let out = Tensor(uninitialized: [b, c, qkv.shape[2], qkv.shape[3]], layout: .nhwc)
        if b == 0 || hw == 0 || c == 0 { return out }
        let base = qkv.pointer, rowStride = 3 * c, batchStride = hw * 3 * c
        if precision == .fp32 {
            // One head of `c` channels: q, k, v are the pixels' channel thirds (Attention.swift).
            try attentionInQueryBlocks(q: (base, rowStride), k: (base + c, rowStride), v: (base + 2 * c, rowStride),
                                       into: out.pointer, batch: b, queries: hw, keys: hw, heads: 1, headDim: c, scale: scale)
            return out
        }
        // bf16: image by image, as in multi-head attention: each image's scores stay in the last-level cache between
        // the matmul, the softmax and the second matmul, and its products do not depend on the batch.
        let scores = TensorStorage(uninitialized: hw * hw)
        for index in 0..<b {
            let image = base + index * batchStride
            // scores[i, j] = Σ_c q[i, c] k[j, c]
            try stridedMatmul(MatrixView(pointer: image, dims: [hw, c], strides: [rowStride, 1]),
                              MatrixView(pointer: image + c, dims: [c, hw], strides: [1, rowStride]),
                              into: .dense(scores.pointer, [hw, hw]), alpha: scale, precision: precision,
                              roundsBFloat16Outputs: roundsBFloat16Outputs)
            Profiler.measure("softmax") { softmaxRows(scores.pointer, scores.pointer, rows: hw, length: hw) }
            // out[i, c] = Σ_j scores[i, j] v[j, c]
            try stridedMatmul(MatrixView(pointer: scores.pointer, dims: [hw, hw], strides: [hw, 1]),
                              MatrixView(pointer: image + 2 * c, dims: [hw, c], strides: [rowStride, 1]),
                              into: .dense(out.pointer + index * hw * c, [hw, c]), alpha: 1, precision: precision,
                              roundsBFloat16Outputs: roundsBFloat16Outputs)
        }
        return out
    }
}
