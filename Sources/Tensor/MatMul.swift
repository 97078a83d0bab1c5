// Matrix products through oneDNN's matmul primitive (same OpenMP thread pool as the convolutions).
import CDNNL
import Foundation

/// y = x·Wᵀ + b over the last dimension (torch.nn.Linear), with W reordered once into oneDNN's preferred layout.
public final class LinearKernel: @unchecked Sendable {
    public let inFeatures: Int
    public let outFeatures: Int
    private let bias: TensorStorage?
    private var weights: (md: dnnl_memory_desc_t, storage: TensorStorage)
    private var plans: [PlanKey: DNNLPrimitive] = [:]
    private let lock = NSLock()

    private struct PlanKey: Hashable { let rows: Int; let sum: Bool }

    /// oneDNN matmul implementations passed over when another candidate exists (name prefixes), for Linear layers
    /// and `Tensor.matmul`. Override with VQRT_MATMUL_AVOID (comma-separated).
    nonisolated(unsafe) public static var avoidedImplementations: [String] = {
        if let env = ProcessInfo.processInfo.environment["VQRT_MATMUL_AVOID"] {
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
        let (prim, weights) = try plan(PlanKey(rows: rows, sum: residual != nil))
        var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
            (Int32(DNNL_ARG_SRC), try DNNL.md([rows, inFeatures], dnnl_ab), UnsafeMutableRawPointer(xp.pointer)),
            (Int32(DNNL_ARG_WEIGHTS), weights.md, UnsafeMutableRawPointer(weights.storage.pointer)),
            (Int32(DNNL_ARG_DST), try DNNL.md([rows, outFeatures], dnnl_ab), UnsafeMutableRawPointer(out.pointer)),
        ]
        if let b = bias {
            args.append((Int32(DNNL_ARG_BIAS), try DNNL.md([1, outFeatures], dnnl_ab), UnsafeMutableRawPointer(b.pointer)))
        }
        try prim.execute(args)
        return out
    }

    /// Implementation oneDNN uses for `rows` input rows (diagnostics).
    public func implementation(rows: Int) throws -> String { try plan(PlanKey(rows: rows, sum: false)).0.implementation }

    private func plan(_ key: PlanKey) throws -> (DNNLPrimitive, (md: dnnl_memory_desc_t, storage: TensorStorage)) {
        lock.lock()
        defer { lock.unlock() }
        if let p = plans[key] { return (p, weights) }
        Threading.applyToOpenMP()
        var src = try DNNL.md([key.rows, inFeatures], dnnl_ab)
        var wmd = try DNNL.md([inFeatures, outFeatures], dnnl_format_tag_any)
        var bmd = bias == nil ? dnnl_memory_desc_t() : try DNNL.md([1, outFeatures], dnnl_ab)
        var dst = try DNNL.md([key.rows, outFeatures], dnnl_ab)
        var d = dnnl_matmul_desc_t()
        try DNNL.check(dnnl_matmul_desc_init(&d, &src, &wmd, &bmd, &dst), "linear [\(key.rows), \(inFeatures)]")
        let attr = try DNNL.attr(sum: key.sum)
        defer { dnnl_primitive_attr_destroy(attr) }
        let prim = try withUnsafePointer(to: &d) { try DNNLPrimitive(opDesc: $0, attr: attr, what: "linear", avoid: LinearKernel.avoidedImplementations) }
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
        plans[key] = prim
        return (prim, weights)
    }
}

/// Cache of batched matmul primitives keyed by problem shape.
private final class MatMulCache: @unchecked Sendable {
    static let shared = MatMulCache()
    struct Key: Hashable {
        let batch: Int, m: Int, n: Int, k: Int
        let transA: Bool, transB: Bool
        let alpha: Float
    }
    var entries: [Key: DNNLPrimitive] = [:]
    let lock = NSLock()
}

extension Tensor {
    /// Batched matrix product `alpha · op(A)·op(B)` of plain tensors: A is `[B, M, K]` (or `[B, K, M]` with
    /// `transposeA`), B is `[B, K, N]` (or `[B, N, K]` with `transposeB`); rank-2 operands are a batch of one.
    /// Like torch.bmm followed by a multiplication by `alpha`.
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false,
                              alpha: Float = 1) throws -> Tensor {
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
        let aMD = try DNNL.md([batch, m, k], strides: transposeA ? [m * k, 1, m] : [m * k, k, 1])
        let bMD = try DNNL.md([batch, k, n], strides: transposeB ? [k * n, 1, k] : [k * n, n, 1])
        let cMD = try DNNL.md([batch, m, n], dnnl_abc)
        let key = MatMulCache.Key(batch: batch, m: m, n: n, k: k, transA: transposeA, transB: transposeB, alpha: alpha)
        let cache = MatMulCache.shared
        cache.lock.lock()
        var prim = cache.entries[key]
        if prim == nil {
            do {
                Threading.applyToOpenMP()
                var s = aMD, w = bMD, d = cMD
                var desc = dnnl_matmul_desc_t()
                try DNNL.check(dnnl_matmul_desc_init(&desc, &s, &w, nil, &d), "matmul \(a.shape) x \(b.shape)")
                let attr = try DNNL.attr()
                defer { dnnl_primitive_attr_destroy(attr) }
                if alpha != 1 {
                    var scale = alpha
                    try DNNL.check(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale), "matmul scale")
                }
                let p = try withUnsafePointer(to: &desc) { try DNNLPrimitive(opDesc: $0, attr: attr, what: "matmul", avoid: LinearKernel.avoidedImplementations) }
                if cache.entries.count > 256 { cache.entries = [:] }
                cache.entries[key] = p
                prim = p
            } catch {
                cache.lock.unlock()
                throw error
            }
        }
        cache.lock.unlock()
        let ap = a.plain(), bp = b.plain()
        try prim!.execute([(Int32(DNNL_ARG_SRC), aMD, UnsafeMutableRawPointer(ap.pointer)),
                           (Int32(DNNL_ARG_WEIGHTS), bMD, UnsafeMutableRawPointer(bp.pointer)),
                           (Int32(DNNL_ARG_DST), cMD, UnsafeMutableRawPointer(out.pointer))])
        return out
    }
}
