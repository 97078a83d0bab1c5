// Thin, owned wrappers over the oneDNN 2.6 C API (engine, stream, memory descriptors, primitives).
//
// One CPU engine and one stream serve the whole process. Primitives are created once per shape by their owners
// and kept; executions are serialised by a lock (each one is already parallel inside oneDNN) and share one
// scratchpad buffer, so cached primitives do not each hold their own workspace.
import CDNNL
import Foundation

enum DNNL {
    struct Context: @unchecked Sendable {
        let engine: dnnl_engine_t
        let stream: dnnl_stream_t
    }

    static let context: Result<Context, TensorError> = {
        var engine: dnnl_engine_t?
        guard dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success, let e = engine else {
            return .failure(.dnnl("cannot create the CPU engine"))
        }
        var stream: dnnl_stream_t?
        guard dnnl_stream_create(&stream, e, dnnl_stream_default_flags.rawValue) == dnnl_success, let s = stream else {
            return .failure(.dnnl("cannot create a CPU stream"))
        }
        return .success(Context(engine: e, stream: s))
    }()

    static func engine() throws -> dnnl_engine_t { try context.get().engine }

    static let executionLock = NSLock()
    nonisolated(unsafe) static var scratch: TensorStorage?

    @inline(__always)
    static func check(_ status: dnnl_status_t, _ what: @autoclosure () -> String) throws {
        if status != dnnl_success { throw TensorError.dnnl("\(what()) failed (status \(status.rawValue))") }
    }

    /// A memory descriptor from dims and a format tag (`dnnl_format_tag_any` lets a primitive choose), float32
    /// unless `type` says otherwise (bfloat16 operands of the bf16 precision).
    static func md(_ dims: [Int], _ tag: dnnl_format_tag_t, _ type: dnnl_data_type_t = dnnl_f32) throws -> dnnl_memory_desc_t {
        guard dims.count <= Int(DNNL_MAX_NDIMS) else { throw TensorError.invalidArgument("rank \(dims.count) is too high") }
        var md = dnnl_memory_desc_t()
        var d = [Int64](repeating: 0, count: Int(DNNL_MAX_NDIMS))
        for (i, v) in dims.enumerated() { d[i] = Int64(v) }
        try check(dnnl_memory_desc_init_by_tag(&md, Int32(dims.count), d, type, tag), "memory descriptor \(dims)")
        return md
    }

    /// A memory descriptor from dims and element strides (float32 unless `type` says otherwise).
    static func md(_ dims: [Int], strides: [Int], _ type: dnnl_data_type_t = dnnl_f32) throws -> dnnl_memory_desc_t {
        guard dims.count <= Int(DNNL_MAX_NDIMS), strides.count == dims.count else {
            throw TensorError.invalidArgument("rank \(dims.count) is too high")
        }
        var md = dnnl_memory_desc_t()
        var d = [Int64](repeating: 0, count: Int(DNNL_MAX_NDIMS))
        var s = [Int64](repeating: 0, count: Int(DNNL_MAX_NDIMS))
        for (i, v) in dims.enumerated() { d[i] = Int64(v); s[i] = Int64(strides[i]) }
        try check(dnnl_memory_desc_init_by_strides(&md, Int32(dims.count), d, type, s), "memory descriptor \(dims)")
        return md
    }

    /// The descriptor of a tensor as it is laid out.
    static func md(of t: Tensor) throws -> dnnl_memory_desc_t {
        switch t.layout {
        case .nChw16c: return try md(t.shape, dnnl_nChw16c)
        case .nhwc: return try md(t.shape, dnnl_nhwc)
        case .plain: return try md(t.shape, plainTag(t.rank))
        }
    }

    static func tag(_ layout: TensorLayout, rank: Int) -> dnnl_format_tag_t {
        switch layout {
        case .plain: return plainTag(rank)
        case .nChw16c: return dnnl_nChw16c
        case .nhwc: return dnnl_nhwc
        }
    }

    static func plainTag(_ rank: Int) -> dnnl_format_tag_t {
        switch rank {
        case 1: return dnnl_a
        case 2: return dnnl_ab
        case 3: return dnnl_abc
        case 4: return dnnl_abcd
        default: return dnnl_abcde
        }
    }

    static func equal(_ a: dnnl_memory_desc_t, _ b: dnnl_memory_desc_t) -> Bool {
        var a = a, b = b
        return dnnl_memory_desc_equal(&a, &b) != 0
    }

    /// Bytes a descriptor spans.
    static func size(_ md: dnnl_memory_desc_t) -> Int {
        var md = md
        return Int(dnnl_memory_desc_get_size(&md))
    }

    /// Which of our layouts a 4-d descriptor is, if any.
    static func layout(of md: dnnl_memory_desc_t, dims: [Int]) -> TensorLayout? {
        if let m = try? DNNL.md(dims, dnnl_nChw16c), equal(m, md) { return .nChw16c }
        if let m = try? DNNL.md(dims, plainTag(dims.count)), equal(m, md) { return .plain }
        if dims.count == 4, let m = try? DNNL.md(dims, dnnl_nhwc), equal(m, md) { return .nhwc }
        return nil
    }

    /// Attributes: user-managed scratchpad plus optional post-ops.
    static func attr(sum: Bool = false, eltwise: (dnnl_alg_kind_t, Float, Float)? = nil) throws -> dnnl_primitive_attr_t {
        var attr: dnnl_primitive_attr_t?
        try check(dnnl_primitive_attr_create(&attr), "attribute creation")
        guard let a = attr else { throw TensorError.dnnl("attribute creation returned nothing") }
        try check(dnnl_primitive_attr_set_scratchpad_mode(a, dnnl_scratchpad_mode_user), "scratchpad mode")
        if sum || eltwise != nil {
            var po: dnnl_post_ops_t?
            try check(dnnl_post_ops_create(&po), "post-ops creation")
            guard let p = po else { throw TensorError.dnnl("post-ops creation returned nothing") }
            defer { dnnl_post_ops_destroy(p) }
            if sum { try check(dnnl_post_ops_append_sum(p, 1.0), "sum post-op") }
            if let (alg, alpha, beta) = eltwise {
                try check(dnnl_post_ops_append_eltwise(p, 1.0, alg, alpha, beta), "eltwise post-op")
            }
            try check(dnnl_primitive_attr_set_post_ops(a, p), "post-ops")
        }
        return a
    }
}

/// Records primitives that fell back to oneDNN's reference (scalar C++) implementations, which are orders of
/// magnitude slower: a sign of an unsupported layout combination.
public enum DNNLDiagnostics {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var slow: [String] = []

    static func record(_ s: String) { lock.lock(); slow.append(s); lock.unlock() }

    /// Descriptions of every primitive created so far with a reference implementation.
    public static var referenceImplementations: [String] { lock.lock(); defer { lock.unlock() }; return slow }
}

/// An executable oneDNN primitive with its descriptor; destroyed with the object.
final class DNNLPrimitive: @unchecked Sendable {
    let pd: dnnl_primitive_desc_t
    let primitive: dnnl_primitive_t
    let scratchBytes: Int

    /// Creates the primitive from an operation descriptor (pointer to a dnnl_*_desc_t). oneDNN lists candidate
    /// implementations best first by its own heuristics; the first one whose name starts with one of `prefer` is
    /// taken, or oneDNN's first choice if none does.
    convenience init(opDesc: UnsafeRawPointer, attr: dnnl_primitive_attr_t, what: String, prefer: [String] = []) throws {
        var it: dnnl_primitive_desc_iterator_t?
        try DNNL.check(dnnl_primitive_desc_iterator_create(&it, opDesc, attr, try DNNL.engine(), nil), "\(what) descriptor")
        guard let iter = it else { throw TensorError.dnnl("\(what) descriptor missing") }
        defer { dnnl_primitive_desc_iterator_destroy(iter) }
        var first: dnnl_primitive_desc_t?
        var chosen: dnnl_primitive_desc_t?
        repeat {
            guard let pd = dnnl_primitive_desc_iterator_fetch(iter) else { break }
            let name = DNNLPrimitive.implementationName(pd)
            if prefer.contains(where: { name.hasPrefix($0) }) {
                chosen = pd
                break
            }
            if first == nil { first = pd } else { dnnl_primitive_desc_destroy(pd) }
            if prefer.isEmpty { break }
        } while dnnl_primitive_desc_iterator_next(iter) == dnnl_success
        if let c = chosen {
            if let f = first { dnnl_primitive_desc_destroy(f) }
            try self.init(pd: c, what: what)
        } else if let f = first {
            try self.init(pd: f, what: what)
        } else {
            throw TensorError.dnnl("no implementation for \(what)")
        }
    }

    /// Names of every implementation oneDNN offers for an operation, best first (diagnostics).
    static func candidates(opDesc: UnsafeRawPointer, attr: dnnl_primitive_attr_t) throws -> [String] {
        var it: dnnl_primitive_desc_iterator_t?
        try DNNL.check(dnnl_primitive_desc_iterator_create(&it, opDesc, attr, try DNNL.engine(), nil), "descriptor")
        guard let iter = it else { return [] }
        defer { dnnl_primitive_desc_iterator_destroy(iter) }
        var names: [String] = []
        repeat {
            guard let pd = dnnl_primitive_desc_iterator_fetch(iter) else { break }
            names.append(DNNLPrimitive.implementationName(pd))
            dnnl_primitive_desc_destroy(pd)
        } while dnnl_primitive_desc_iterator_next(iter) == dnnl_success
        return names
    }

    static func implementationName(_ pd: dnnl_primitive_desc_t) -> String {
        var info: UnsafePointer<CChar>?
        guard dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &info) == dnnl_success, let i = info else {
            return "?"
        }
        return String(cString: i)
    }

    /// Takes ownership of `pd` and creates its primitive.
    init(pd: dnnl_primitive_desc_t, what: String) throws {
        var prim: dnnl_primitive_t?
        let status = dnnl_primitive_create(&prim, pd)
        guard status == dnnl_success, let pr = prim else {
            dnnl_primitive_desc_destroy(pd)
            throw TensorError.dnnl("\(what) creation failed (status \(status.rawValue))")
        }
        self.pd = pd
        self.primitive = pr
        let name = DNNLPrimitive.implementationName(pd)
        if name.hasPrefix("ref") { DNNLDiagnostics.record("\(what): \(name)") }
        if let s = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0) {
            scratchBytes = DNNL.size(s.pointee)
        } else {
            scratchBytes = 0
        }
    }

    /// A reorder from one layout to another.
    static func reorder(from src: dnnl_memory_desc_t, to dst: dnnl_memory_desc_t) throws -> DNNLPrimitive {
        var s = src, d = dst
        let engine = try DNNL.engine()
        let attr = try DNNL.attr()
        defer { dnnl_primitive_attr_destroy(attr) }
        var pd: dnnl_primitive_desc_t?
        try DNNL.check(dnnl_reorder_primitive_desc_create(&pd, &s, engine, &d, engine, attr), "reorder descriptor")
        guard let p = pd else { throw TensorError.dnnl("reorder descriptor missing") }
        return try DNNLPrimitive(pd: p, what: "reorder")
    }

    deinit {
        dnnl_primitive_destroy(primitive)
        dnnl_primitive_desc_destroy(pd)
    }

    func md(_ query: dnnl_query_t, _ index: Int32 = 0) -> dnnl_memory_desc_t? {
        dnnl_primitive_desc_query_md(pd, query, index)?.pointee
    }

    /// Implementation name (e.g. "jit:avx512_core"), to spot slow reference fallbacks.
    var implementation: String { DNNLPrimitive.implementationName(pd) }

    /// Runs the primitive on raw buffers: `args` pairs an argument id (DNNL_ARG_*) with a descriptor and pointer.
    func execute(_ args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)]) throws {
        let ctx = try DNNL.context.get()
        DNNL.executionLock.lock()
        defer { DNNL.executionLock.unlock() }
        Threading.applyToOpenMP()
        var mems: [dnnl_memory_t] = []
        defer { for m in mems { dnnl_memory_destroy(m) } }
        var exec: [dnnl_exec_arg_t] = []
        for (arg, md, ptr) in args {
            var m: dnnl_memory_t?
            var d = md
            try DNNL.check(dnnl_memory_create(&m, &d, ctx.engine, ptr), "memory object")
            guard let mm = m else { throw TensorError.dnnl("memory object missing") }
            mems.append(mm)
            exec.append(dnnl_exec_arg_t(arg: arg, memory: mm))
        }
        if scratchBytes > 0, let smd = md(dnnl_query_scratchpad_md) {
            let floats = (scratchBytes + 3) / 4
            if (DNNL.scratch?.capacity ?? 0) < floats { DNNL.scratch = TensorStorage(uninitialized: floats) }
            var m: dnnl_memory_t?
            var d = smd
            try DNNL.check(dnnl_memory_create(&m, &d, ctx.engine, DNNL.scratch!.pointer), "scratchpad memory")
            guard let mm = m else { throw TensorError.dnnl("scratchpad memory missing") }
            mems.append(mm)
            exec.append(dnnl_exec_arg_t(arg: Int32(DNNL_ARG_SCRATCHPAD), memory: mm))
        }
        try DNNL.check(dnnl_primitive_execute(primitive, ctx.stream, Int32(exec.count), exec), "execution")
        try DNNL.check(dnnl_stream_wait(ctx.stream), "stream wait")
    }

    /// Executes on the calling thread alone, concurrently with other such executions: for work the caller has
    /// already spread over the kernels' threads (oneDNN runs single-threaded inside a parallel region). Each thread
    /// has its own stream; a scratchpad, if any, is allocated for the call.
    func executeOnThisThread(_ args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)]) throws {
        let stream = try DNNL.threadStream()
        let engine = try DNNL.engine()
        var mems: [dnnl_memory_t] = []
        defer { for m in mems { dnnl_memory_destroy(m) } }
        var exec: [dnnl_exec_arg_t] = []
        func add(_ arg: Int32, _ md: dnnl_memory_desc_t, _ ptr: UnsafeMutableRawPointer) throws {
            var m: dnnl_memory_t?
            var d = md
            try DNNL.check(dnnl_memory_create(&m, &d, engine, ptr), "memory object")
            guard let mm = m else { throw TensorError.dnnl("memory object missing") }
            mems.append(mm)
            exec.append(dnnl_exec_arg_t(arg: arg, memory: mm))
        }
        for (arg, md, ptr) in args { try add(arg, md, ptr) }
        let scratch = scratchBytes > 0 ? TensorStorage(uninitialized: (scratchBytes + 3) / 4) : nil
        if let scratch, let smd = md(dnnl_query_scratchpad_md) { try add(Int32(DNNL_ARG_SCRATCHPAD), smd, UnsafeMutableRawPointer(scratch.pointer)) }
        try DNNL.check(dnnl_primitive_execute(primitive, stream, Int32(exec.count), exec), "execution")
        try DNNL.check(dnnl_stream_wait(stream), "stream wait")
        withExtendedLifetime(scratch) {}
    }
}

extension DNNL {
    /// A stream per thread, for `executeOnThisThread` (oneDNN streams are not to be shared between threads that
    /// execute at the same time); destroyed when the thread ends.
    static func threadStream() throws -> dnnl_stream_t {
        if let s = pthread_getspecific(streamKey) { return OpaquePointer(s) }
        var stream: dnnl_stream_t?
        guard dnnl_stream_create(&stream, try engine(), dnnl_stream_default_flags.rawValue) == dnnl_success, let s = stream else {
            throw TensorError.dnnl("cannot create a CPU stream")
        }
        pthread_setspecific(streamKey, UnsafeRawPointer(s))
        return s
    }

    nonisolated(unsafe) private static let streamKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { if let s = $0 { dnnl_stream_destroy(OpaquePointer(s)) } }
        return key
    }()
}
