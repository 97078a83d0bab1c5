// Matrix products whose bits do not depend on the thread count.
//
// oneDNN's gemm splits the sum over K between threads for some shapes and thread counts, and a sum split in two
// rounds differently from the same sum done in one pass: results would change with --threads. vqrt instead cuts
// every product into blocks of rows fixed by the product's shape, computes each block on a single thread (oneDNN
// runs single-threaded inside a parallel region, and is limited to one thread where a block runs outside one) and
// spreads the blocks over the threads. A block's sums are then the same whatever
// the thread count, and, the blocks being fixed by the problem's own shape, whatever else runs beside it.
import CDNNL
import Foundation

/// A `[batch..., rows, cols]` operand: base address, element strides (any: transposed views, stride-0 broadcast
/// batches) and element type.
struct MatrixOperand {
    let base: UnsafeMutableRawPointer
    let dims: [Int]
    let strides: [Int]
    let type: dnnl_data_type_t

    init(_ pointer: UnsafeMutableRawPointer, dims: [Int], strides: [Int], type: dnnl_data_type_t = dnnl_f32) {
        base = pointer; self.dims = dims; self.strides = strides; self.type = type
    }

    init(_ view: MatrixView) { self.init(UnsafeMutableRawPointer(view.pointer), dims: view.dims, strides: view.strides) }

    var elementBytes: Int { type == dnnl_bf16 ? 2 : 4 }
    var rows: Int { dims[dims.count - 2] }
    var cols: Int { dims[dims.count - 1] }
    var batchDims: [Int] { Array(dims.dropLast(2)) }

    /// The `[rows, cols]` matrix of batch index `flat` (row-major over the batch dimensions), from row `row`.
    func block(batch flat: Int, row: Int) -> UnsafeMutableRawPointer {
        var offset = row * strides[dims.count - 2], rest = flat
        for axis in stride(from: dims.count - 3, through: 0, by: -1) {
            offset += (rest % dims[axis]) * strides[axis]
            rest /= dims[axis]
        }
        return base + offset * elementBytes
    }
}

enum BlockedMatmul {
    /// Rows per block for a product of `batches` matrices of `rows` rows: about 16 blocks in all, so that any
    /// thread count finds work, but never under 64 rows (the gemm kernels need that many to run near their peak on
    /// one thread) and never split when the batch alone gives enough blocks (Winograd's 36 products). A function
    /// of the shape only: the same blocks, hence the same bits, whatever the thread count.
    static func rowsPerBlock(rows: Int, batches: Int) -> Int {
        let perMatrix = max(1, 16 / max(batches, 1))
        let r = (rows + perMatrix - 1) / perMatrix
        return max(1, min(rows, max(64, (r + 15) / 16 * 16)))
    }

    private struct Key: Hashable {
        let rows: Int, k: Int, n: Int
        let aStrides: [Int], bStrides: [Int], cStrides: [Int]
        let aType: UInt32, bType: UInt32
        let alpha: Float, bias: Bool, accumulate: Bool
    }
    private static let lock = NSLock()
    nonisolated(unsafe) private static var primitives: [Key: DNNLPrimitive] = [:]

    /// C = alpha · A·B (+ bias, broadcast over rows) (+ C's previous contents when `accumulate`), over the batch
    /// dimensions of C; A and B have C's batch dimensions (stride 0 for a shared operand). `blockRows`: rows per
    /// block, by default `rowsPerBlock` of the whole product; a caller whose batch dimension counts images (and so
    /// changes with the batch size) passes one that depends on an image's rows only.
    static func run(_ a: MatrixOperand, _ b: MatrixOperand, into c: MatrixOperand, alpha: Float = 1,
                    bias: UnsafeMutablePointer<Float>? = nil, accumulate: Bool = false, blockRows: Int? = nil,
                    what: String) throws {
        let m = c.rows, n = c.cols, k = a.cols
        guard a.rows == m, b.rows == k, b.cols == n, a.batchDims == c.batchDims, b.batchDims == c.batchDims else {
            throw TensorError.shapeMismatch("\(what): \(a.dims) x \(b.dims) -> \(c.dims)")
        }
        let batches = c.batchDims.reduce(1, *)
        if batches == 0 || m == 0 || n == 0 { return }
        let blockRows = blockRows ?? rowsPerBlock(rows: m, batches: batches)
        let blocks = (m + blockRows - 1) / blockRows
        let full = try primitive(rows: min(m, blockRows), a, b, c, alpha: alpha, bias: bias != nil, accumulate: accumulate, what: what)
        let tail = m % blockRows == 0 || m < blockRows ? full
            : try primitive(rows: m % blockRows, a, b, c, alpha: alpha, bias: bias != nil, accumulate: accumulate, what: what)
        let r = a.dims.count
        func md(_ o: MatrixOperand, rows: Int, cols: Int, _ strides: [Int]) throws -> dnnl_memory_desc_t {
            try DNNL.md([rows, cols], strides: [strides[r - 2], strides[r - 1]], o.type)
        }
        let biasMD = try DNNL.md([1, n], dnnl_ab)
        let failure = FirstError()
        parallelFor(batches * blocks) { range in
            for task in range {
                let batch = task / blocks, row = (task % blocks) * blockRows
                let rows = min(blockRows, m - row)
                let p = rows == min(m, blockRows) ? full : tail
                do {
                    var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
                        (Int32(DNNL_ARG_SRC), try md(a, rows: rows, cols: k, a.strides), a.block(batch: batch, row: row)),
                        (Int32(DNNL_ARG_WEIGHTS), try md(b, rows: k, cols: n, b.strides), b.block(batch: batch, row: 0)),
                        (Int32(DNNL_ARG_DST), try md(c, rows: rows, cols: n, c.strides), c.block(batch: batch, row: row)),
                    ]
                    if let bias { args.append((Int32(DNNL_ARG_BIAS), biasMD, UnsafeMutableRawPointer(bias))) }
                    // One thread per block, also when a single block runs outside the parallel region.
                    try Threading.onOneOpenMPThread { try p.executeOnThisThread(args) }
                } catch {
                    failure.record(error)
                }
            }
        }
        try failure.rethrow()
    }

    /// The primitive for blocks of `rows` rows (made once per shape, strides and types).
    private static func primitive(rows: Int, _ a: MatrixOperand, _ b: MatrixOperand, _ c: MatrixOperand, alpha: Float,
                                  bias: Bool, accumulate: Bool, what: String) throws -> DNNLPrimitive {
        let r = a.dims.count
        let key = Key(rows: rows, k: a.cols, n: c.cols, aStrides: Array(a.strides.suffix(2)), bStrides: Array(b.strides.suffix(2)),
                      cStrides: Array(c.strides.suffix(2)), aType: a.type.rawValue, bType: b.type.rawValue, alpha: alpha,
                      bias: bias, accumulate: accumulate)
        lock.lock()
        defer { lock.unlock() }
        if let p = primitives[key] { return p }
        var src = try DNNL.md([rows, a.cols], strides: [a.strides[r - 2], a.strides[r - 1]], a.type)
        var wei = try DNNL.md([a.cols, c.cols], strides: [b.strides[r - 2], b.strides[r - 1]], b.type)
        var dst = try DNNL.md([rows, c.cols], strides: [c.strides[r - 2], c.strides[r - 1]])
        var bmd = bias ? try DNNL.md([1, c.cols], dnnl_ab) : dnnl_memory_desc_t()
        var desc = dnnl_matmul_desc_t()
        try DNNL.check(dnnl_matmul_desc_init(&desc, &src, &wei, &bmd, &dst), "\(what) [\(rows), \(a.cols)] x [\(a.cols), \(c.cols)]")
        let attr = try DNNL.attr(sum: accumulate)
        defer { dnnl_primitive_attr_destroy(attr) }
        if alpha != 1 {
            // Output scale: the float32 result of A·B is multiplied by alpha, like PyTorch's `bmm(...) * alpha`.
            var scale = alpha
            try DNNL.check(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale), "\(what) scale")
        }
        let p = try withUnsafePointer(to: &desc) { try DNNLPrimitive(opDesc: $0, attr: attr, what: what) }
        if primitives.count >= 512 { primitives = [:] }   // a long-running host feeding ever new shapes
        primitives[key] = p
        return p
    }

    /// One product C = alpha·A·B of 2-d operands with these strides, made once and run by the caller on one thread
    /// (`run`), for callers that cut their work into fixed blocks of their own (Attention.swift).
    struct SingleThreadProduct {
        let primitive: DNNLPrimitive
        let a: dnnl_memory_desc_t, b: dnnl_memory_desc_t, c: dnnl_memory_desc_t

        init(rows m: Int, k: Int, n: Int, aStrides: [Int], bStrides: [Int], cStrides: [Int], alpha: Float = 1,
             what: String) throws {
            let none = UnsafeMutableRawPointer(bitPattern: 64)!   // descriptors only: never read
            primitive = try BlockedMatmul.primitive(rows: m, MatrixOperand(none, dims: [m, k], strides: aStrides),
                                                    MatrixOperand(none, dims: [k, n], strides: bStrides),
                                                    MatrixOperand(none, dims: [m, n], strides: cStrides),
                                                    alpha: alpha, bias: false, accumulate: false, what: what)
            a = try DNNL.md([m, k], strides: aStrides)
            b = try DNNL.md([k, n], strides: bStrides)
            c = try DNNL.md([m, n], strides: cStrides)
        }

        func run(_ a: UnsafeMutableRawPointer, _ b: UnsafeMutableRawPointer, into c: UnsafeMutableRawPointer) throws {
            let args = [(Int32(DNNL_ARG_SRC), self.a, a), (Int32(DNNL_ARG_WEIGHTS), self.b, b), (Int32(DNNL_ARG_DST), self.c, c)]
            try Threading.onOneOpenMPThread { try primitive.executeOnThisThread(args) }
        }
    }

    /// The oneDNN implementation a product of this shape runs (diagnostics).
    static func implementation(_ a: MatrixOperand, _ b: MatrixOperand, into c: MatrixOperand, blockRows: Int) throws -> String {
        try primitive(rows: min(c.rows, blockRows), a, b, c, alpha: 1, bias: false, accumulate: false, what: "matmul").implementation
    }
}

/// The first error thrown by any of several concurrent tasks.
final class FirstError: @unchecked Sendable {
    private let lock = NSLock()
    private var error: Error?
    func record(_ e: Error) { lock.lock(); if error == nil { error = e }; lock.unlock() }
    func rethrow() throws { lock.lock(); defer { lock.unlock() }; if let error { throw error } }
}
