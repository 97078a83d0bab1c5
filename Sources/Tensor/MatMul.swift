// Matrix products through oneDNN's matmul primitive (same OpenMP thread pool as the convolutions).
import CDNNL
import Foundation

/// y = x·Wᵀ + b over the last dimension (torch.nn.Linear), with W reordered once into oneDNN's preferred layout.
public final class LinearKernel: @unchecked Sendable {
    public let inFeatures: Int
    public let outFeatures: Int
    private let bias: TensorStorage?
    private var weights: (md: dnnl_memory_desc_t, storage: TensorStorage)
    private var plans: [PlanKey: Plan] = [:]
    private let lock = NSLock()
    private var weightsRoundedToBFloat16 = false

    private struct PlanKey: Hashable { let rows: Int; let sum: Bool; let precision: Precision }

    /// The matmul and, in bf16, the conversion of the float32 input rows to bfloat16 (`srcMD`).
    private struct Plan {
        let primitive: DNNLPrimitive
        let srcMD: dnnl_memory_desc_t
        let srcReorder: DNNLPrimitive?
    }

    /// The precision new kernels get (VQRT_PRECISION=fp32|bf16, else fp32); the CLI sets it before loading a model.
    nonisolated(unsafe) public static var defaultPrecision: Precision =
        ProcessInfo.processInfo.environment["VQRT_PRECISION"].flatMap(Precision.init(rawValue:)) ?? .fp32

    /// This kernel's precision (see Precision.swift); may be changed until the first call. bf16: the input is
    /// converted to bfloat16 on each call (oneDNN reorder, round to nearest even), the weights once; float32
    /// accumulation, bias and output.
    public var precision: Precision = LinearKernel.defaultPrecision

    /// oneDNN matmul implementations to take when offered (name prefixes), for Linear layers and `Tensor.matmul`;
    /// empty: oneDNN's own choice. Override with VQRT_MATMUL_PREFER (comma-separated).
    nonisolated(unsafe) public static var preferredImplementations: [String] = {
        if let env = ProcessInfo.processInfo.environment["VQRT_MATMUL_PREFER"] {
            return env.split(separator: ",").map { String($0) }
        }
        return []
    }()

    /// `weight` is PyTorch's `[out, in]` in C order; `bias` has `out` values or is nil.
    public init(weight: [Float], outFeatures: Int, inFeatures: Int, bias: [Float]?) throws {
        guard outFeatures > 0, inFeatures > 0, weight.count == outFeatures * inFeatures else {
            throw TensorError.shapeMismatch("linear weight [\(outFeatures), \(inFeatures)] with \(weight.count) values")
        }
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
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
        // oneDNN's weights are the K×N matrix B; PyTorch's [N, K] row-major is B with strides (1, K).
        weights = (try DNNL.md([inFeatures, outFeatures], strides: [1, inFeatures]), w)
    }

    /// Applies the layer to a plain tensor `[..., in]`; `residual` (shape `[..., out]`) is added inside the primitive.
    public func callAsFunction(_ x: Tensor, residual: Tensor? = nil) throws -> Tensor {
        guard x.rank >= 1, x.shape.last == inFeatures else {
            throw TensorError.shapeMismatch("linear expects [..., \(inFeatures)], got \(x.shape)")
        }
        let xp = x.plain()
        let rows = x.count / inFeatures
        let outShape = Array(x.shape.dropLast()) + [outFeatures]
        if let r = residual, r.shape != outShape {
            throw TensorError.shapeMismatch("residual \(r.shape) does not match linear output \(outShape)")
        }
        let out = Tensor(uninitialized: outShape)
        if rows == 0 { return out }
        if let r = residual { out.pointer.update(from: r.plain().pointer, count: out.count) }
        let (plan, weights) = try self.plan(PlanKey(rows: rows, sum: residual != nil, precision: precision))
        var src = xp.storage
        if precision.isEmulatedBFloat16 {
            src = Profiler.measure("linear input to bf16 values") { bfloat16RoundedCopy(xp.pointer, count: xp.count) }
        } else if let re = plan.srcReorder {
            src = TensorStorage(uninitialized: (DNNL.size(plan.srcMD) + 3) / 4)
            try Profiler.measure("linear input to bf16") {
                try re.execute([(Int32(DNNL_ARG_FROM), try DNNL.md([rows, inFeatures], dnnl_ab), UnsafeMutableRawPointer(xp.pointer)),
                                (Int32(DNNL_ARG_TO), plan.srcMD, UnsafeMutableRawPointer(src.pointer))])
            }
        }
        var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
            (Int32(DNNL_ARG_SRC), plan.srcMD, UnsafeMutableRawPointer(src.pointer)),
            (Int32(DNNL_ARG_WEIGHTS), weights.md, UnsafeMutableRawPointer(weights.storage.pointer)),
            (Int32(DNNL_ARG_DST), try DNNL.md([rows, outFeatures], dnnl_ab), UnsafeMutableRawPointer(out.pointer)),
        ]
        if let b = bias {
            args.append((Int32(DNNL_ARG_BIAS), try DNNL.md([1, outFeatures], dnnl_ab), UnsafeMutableRawPointer(b.pointer)))
        }
        try Profiler.measure(precision == .bf16 ? "linear bf16" : "linear",
                             flops: 2 * Double(rows) * Double(inFeatures) * Double(outFeatures)) {
            try plan.primitive.execute(args)
        }
        if precision == .bf16, Precision.roundsOutputs { roundToBFloat16(out.pointer, count: out.count) }
        return out
    }

    /// Implementation oneDNN uses for `rows` input rows (diagnostics).
    public func implementation(rows: Int) throws -> String {
        try plan(PlanKey(rows: rows, sum: false, precision: precision)).0.primitive.implementation
    }

    private func plan(_ key: PlanKey) throws -> (Plan, (md: dnnl_memory_desc_t, storage: TensorStorage)) {
        lock.lock()
        defer { lock.unlock() }
        if let p = plans[key] { return (p, weights) }
        Threading.applyToOpenMP()
        // bf16: bfloat16 input and weights, float32 bias and output.
        var src = try DNNL.md([key.rows, inFeatures], dnnl_ab, key.precision.operandType)
        var wmd = try DNNL.md([inFeatures, outFeatures], dnnl_format_tag_any, key.precision.operandType)
        var bmd = bias == nil ? dnnl_memory_desc_t() : try DNNL.md([1, outFeatures], dnnl_ab)
        var dst = try DNNL.md([key.rows, outFeatures], dnnl_ab)
        var d = dnnl_matmul_desc_t()
        try DNNL.check(dnnl_matmul_desc_init(&d, &src, &wmd, &bmd, &dst), "linear [\(key.rows), \(inFeatures)]")
        let attr = try DNNL.attr(sum: key.sum)
        defer { dnnl_primitive_attr_destroy(attr) }
        let prim = try withUnsafePointer(to: &d) { try DNNLPrimitive(opDesc: $0, attr: attr, what: "linear", prefer: LinearKernel.preferredImplementations) }
        let srcReorder = key.precision == .fp32 || key.precision.isEmulatedBFloat16 ? nil
            : try DNNLPrimitive.reorder(from: try DNNL.md([key.rows, inFeatures], dnnl_ab), to: src)
        if key.precision.isEmulatedBFloat16 && !weightsRoundedToBFloat16 {
            roundToBFloat16(weights.storage.pointer, count: DNNL.size(weights.md) / 4)
            weightsRoundedToBFloat16 = true
        }
        guard let want = prim.md(dnnl_query_weights_md) else { throw TensorError.dnnl("linear lacks a weights descriptor") }
        if !DNNL.equal(want, weights.md) {
            // Reorder once; every later plan asks for the same blocked layout or gets its own reorder from it.
            let storage = TensorStorage(zeros: (DNNL.size(want) + 3) / 4)
            let re = try DNNLPrimitive.reorder(from: weights.md, to: want)
            try re.execute([(Int32(DNNL_ARG_FROM), weights.md, UnsafeMutableRawPointer(weights.storage.pointer)),
                            (Int32(DNNL_ARG_TO), want, UnsafeMutableRawPointer(storage.pointer))])
            weights = (want, storage)
            // Plans made for the previous layout must be rebuilt against the new one.
            plans = [:]
        }
        let p = Plan(primitive: prim, srcMD: src, srcReorder: srcReorder)
        plans[key] = p
        return (p, weights)
    }
}

/// Cache of batched matmul primitives keyed by problem shape and operand strides.
private final class MatMulCache: @unchecked Sendable {
    static let shared = MatMulCache()
    struct Key: Hashable {
        let a: [Int], b: [Int], c: [Int]      // dims followed by strides
        let alpha: Float
        let precision: Precision
    }
    /// The matmul; in bf16 also the conversions of A and B into dense bfloat16 copies (`aMD`, `bMD`).
    struct Entry {
        let matmul: DNNLPrimitive
        let aMD: dnnl_memory_desc_t, bMD: dnnl_memory_desc_t
        let aReorder: DNNLPrimitive?, bReorder: DNNLPrimitive?
    }
    var entries: [Key: Entry] = [:]
    let lock = NSLock()
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

/// C = alpha · A·B for `[batch..., m, k]` A and `[batch..., k, n]` B views into a `[batch..., m, n]` C view.
/// In bf16 precision A and B are first converted into dense bfloat16 copies (oneDNN reorders, round to nearest
/// even); the product accumulates in float32 and C stays float32.
func stridedMatmul(_ a: MatrixView, _ b: MatrixView, into c: MatrixView, alpha: Float,
                   precision: Precision = .fp32, profiled: Bool = true) throws {
    let aMD = try DNNL.md(a.dims, strides: a.strides)
    let bMD = try DNNL.md(b.dims, strides: b.strides)
    let cMD = try DNNL.md(c.dims, strides: c.strides)
    let key = MatMulCache.Key(a: a.dims + a.strides, b: b.dims + b.strides, c: c.dims + c.strides, alpha: alpha,
                              precision: precision)
    let cache = MatMulCache.shared
    cache.lock.lock()
    var entry = cache.entries[key]
    if entry == nil {
        do {
            Threading.applyToOpenMP()
            // bf16: dense copies of A and B, in bfloat16 (or rounded float32 where bf16 is emulated).
            let bf16 = precision == .bf16
            let aOperand = bf16 ? try DNNL.md(a.dims, DNNL.plainTag(a.dims.count), precision.operandType) : aMD
            let bOperand = bf16 ? try DNNL.md(b.dims, DNNL.plainTag(b.dims.count), precision.operandType) : bMD
            var s = aOperand, w = bOperand, d = cMD
            var desc = dnnl_matmul_desc_t()
            try DNNL.check(dnnl_matmul_desc_init(&desc, &s, &w, nil, &d), "matmul \(a.dims) x \(b.dims)")
            let attr = try DNNL.attr()
            defer { dnnl_primitive_attr_destroy(attr) }
            if alpha != 1 {
                // Output scale: the float32 result of A·B is multiplied by alpha, like PyTorch's `bmm(...) * alpha`.
                var scale = alpha
                try DNNL.check(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale), "matmul scale")
            }
            let p = try withUnsafePointer(to: &desc) {
                try DNNLPrimitive(opDesc: $0, attr: attr, what: bf16 ? "bf16 matmul" : "matmul",
                                  prefer: LinearKernel.preferredImplementations)
            }
            let e = MatMulCache.Entry(matmul: p, aMD: aOperand, bMD: bOperand,
                                      aReorder: bf16 ? try DNNLPrimitive.reorder(from: aMD, to: aOperand) : nil,
                                      bReorder: bf16 ? try DNNLPrimitive.reorder(from: bMD, to: bOperand) : nil)
            if cache.entries.count > 256 { cache.entries = [:] }
            cache.entries[key] = e
            entry = e
        } catch {
            cache.lock.unlock()
            throw error
        }
    }
    cache.lock.unlock()
    guard let e = entry else { return }
    /// A converted (bf16) copy of an operand, or nil in float32.
    func operand(_ re: DNNLPrimitive?, from: dnnl_memory_desc_t, to: dnnl_memory_desc_t,
                 _ p: UnsafeMutablePointer<Float>) throws -> TensorStorage? {
        guard let re else { return nil }
        let copy = TensorStorage(uninitialized: (DNNL.size(to) + 3) / 4)
        try Profiler.measure("matmul operand to bf16") {
            try re.execute([(Int32(DNNL_ARG_FROM), from, UnsafeMutableRawPointer(p)),
                            (Int32(DNNL_ARG_TO), to, UnsafeMutableRawPointer(copy.pointer))])
            if precision.isEmulatedBFloat16 { roundToBFloat16(copy.pointer, count: DNNL.size(to) / 4) }
        }
        return copy
    }
    let aCopy = try operand(e.aReorder, from: aMD, to: e.aMD, a.pointer)
    let bCopy = try operand(e.bReorder, from: bMD, to: e.bMD, b.pointer)
    let aPointer = UnsafeMutableRawPointer(aCopy?.pointer ?? a.pointer)
    let bPointer = UnsafeMutableRawPointer(bCopy?.pointer ?? b.pointer)
    // 2·M·N·K per matrix of the batch.
    let flops = 2 * Double(c.dims.reduce(1, *)) * Double(a.dims.last ?? 0)
    let arguments = [(Int32(DNNL_ARG_SRC), e.aMD, aPointer), (Int32(DNNL_ARG_WEIGHTS), e.bMD, bPointer),
                     (Int32(DNNL_ARG_DST), cMD, UnsafeMutableRawPointer(c.pointer))]
    if profiled {
        try Profiler.measure(precision == .bf16 ? "matmul bf16" : "matmul", flops: flops) { try e.matmul.execute(arguments) }
    } else {
        try e.matmul.execute(arguments)   // part of a kernel that is timed as a whole
    }
    if precision == .bf16, Precision.roundsOutputs {
        // C may be a strided view into a larger tensor: round exactly its elements.
        roundToBFloat16(view: c)
    }
    withExtendedLifetime((aCopy, bCopy)) {}
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
    /// Precision of the two matmuls of `spatialAttention` and `multiHeadAttention` (q·kᵀ and scores·v; the softmax
    /// between them is float32 either way), read at each call (VQRT_PRECISION=fp32|bf16, else fp32); the CLI sets
    /// it with the kernels' defaults before running a model.
    nonisolated(unsafe) public static var attentionPrecision: Precision =
        ProcessInfo.processInfo.environment["VQRT_PRECISION"].flatMap(Precision.init(rawValue:)) ?? .fp32

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
    public static func spatialAttention(qkv: Tensor, scale: Float,
                                        precision: Precision = Tensor.attentionPrecision) throws -> Tensor {
        guard qkv.rank == 4, qkv.layout == .nhwc, qkv.shape[1] % 3 == 0 else {
            throw TensorError.shapeMismatch("spatial attention needs an nhwc [B, 3C, H, W] tensor, got \(qkv)")
        }
        let b = qkv.shape[0], c = qkv.shape[1] / 3, hw = qkv.shape[2] * qkv.shape[3]
        let out = Tensor(uninitialized: [b, c, qkv.shape[2], qkv.shape[3]], layout: .nhwc)
        if b == 0 || hw == 0 || c == 0 { return out }
        let base = qkv.pointer, rowStride = 3 * c, batchStride = hw * 3 * c
        // As in multi-head attention: batches whose scores exceed the budget go image by image, so that each
        // image's scores stay in the last-level cache between the matmul, the softmax and the second matmul.
        let imagesPerPass = b * hw * hw <= ConvolutionKernel.attentionScoresBudgetFloats ? b : 1
        let scores = TensorStorage(uninitialized: imagesPerPass * hw * hw)
        for first in stride(from: 0, to: b, by: imagesPerPass) {
            let bb = imagesPerPass, image = base + first * batchStride
            // scores[b, i, j] = Σ_c q[b, i, c] k[b, j, c]
            try stridedMatmul(MatrixView(pointer: image, dims: [bb, hw, c], strides: [batchStride, rowStride, 1]),
                              MatrixView(pointer: image + c, dims: [bb, c, hw], strides: [batchStride, 1, rowStride]),
                              into: .dense(scores.pointer, [bb, hw, hw]), alpha: scale, precision: precision)
            Profiler.measure("softmax") { softmaxRows(scores.pointer, scores.pointer, rows: bb * hw, length: hw) }
            // out[b, i, c] = Σ_j scores[b, i, j] v[b, j, c]
            try stridedMatmul(MatrixView(pointer: scores.pointer, dims: [bb, hw, hw], strides: [hw * hw, hw, 1]),
                              MatrixView(pointer: image + 2 * c, dims: [bb, hw, c], strides: [batchStride, rowStride, 1]),
                              into: .dense(out.pointer + first * hw * c, [bb, hw, c]), alpha: 1, precision: precision)
        }
        return out
    }
}
