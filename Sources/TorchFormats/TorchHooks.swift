// The torch names that get meaning (spec §4.3, §9.3), implemented in Swift with strict argument checks.
// Everything else stays an inert placeholder built by the pickle VM.

import PickleVM

/// How the container resolves persistent ids.
enum PersistentIDStyle {
    /// zip: `('storage', StorageClass, key, location, numel)`
    case zip
    /// legacy stacked: `('storage', StorageClass, root_key, location, numel, view_metadata)` or `('module', ...)`
    case legacy
    /// legacy tar: a plain key into already-built storages and tensors
    case tar([Int64: PyValue])
    /// a plain pickle: no persistent ids at all
    case none
}

final class TorchHooks: PickleHooks {
    let style: PersistentIDStyle
    let provider: StorageProvider
    let bigEndian: Bool
    /// Storages by key, so that tensors sharing a storage share one `StorageRef` (spec §2.4).
    private(set) var storages: [String: StorageRef] = [:]
    private(set) var storageOrder: [String] = []
    /// Called for each new storage key (the zip container checks the record size here).
    var onNewStorage: ((String, DType, Int) throws -> Void)?
    /// Nested `_load_from_bytes` depth (spec H39).
    let nestingDepth: Int
    var nestedOptions: UnpicklerOptions

    init(style: PersistentIDStyle, provider: StorageProvider, bigEndian: Bool, nestingDepth: Int = 0, options: UnpicklerOptions) {
        self.style = style; self.provider = provider; self.bigEndian = bigEndian
        self.nestingDepth = nestingDepth; self.nestedOptions = options
    }

    // MARK: persistent ids

    func persistentLoad(_ pid: PyValue) throws -> PyValue {
        if case .tar(let objects) = style {
            let key: Int64?
            switch pid {
            case .str(let s): key = Int64(s)
            case .int(let i): key = i
            case .py2str(let b): key = Int64(String(decoding: b, as: UTF8.self))
            default: key = nil
            }
            guard let key, let v = objects[key] else { throw CheckpointError.tar("persistent id \(describe(pid)) names no stored tensor or storage") }
            return v
        }
        if case .none = style { throw CheckpointError.invalid("a plain pickle cannot reference storages by persistent id") }
        guard case .tuple(let t) = pid, let first = t.items.first, let typename = first.stringValue else {
            throw CheckpointError.invalid("persistent id must be a tuple starting with a name, got \(pid.typeName)")
        }
        let items = t.items
        if typename == "module", case .legacy = style {
            // Whole-module saves: ('module', class, source_file, source_text) resolves to the class itself.
            guard items.count == 4, case .global = items[1] else { throw CheckpointError.invalid("malformed ('module', ...) persistent id") }
            return items[1]
        }
        guard typename == "storage" else { throw CheckpointError.invalid("persistent id of kind '\(typename)' is not a storage") }
        switch style {
        case .zip: guard items.count == 5 else { throw CheckpointError.invalid("zip storage id has \(items.count) fields, expected 5") }
        case .legacy: guard items.count == 6 else { throw CheckpointError.invalid("legacy storage id has \(items.count) fields, expected 6") }
        case .tar, .none: break
        }
        guard case .global(let cls) = items[1], let dtype = DType(storageGlobal: cls) else {
            throw CheckpointError.unsupported("storage type \(describe(items[1])) (known: torch.*Storage, torch.storage.UntypedStorage)")
        }
        guard let key = items[2].stringValue, !key.isEmpty, key.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            throw CheckpointError.invalid("storage key \(describe(items[2])) is not a decimal number")
        }
        let location = items[3].stringValue ?? "cpu"
        guard let numel64 = items[4].intValue, numel64 >= 0, numel64 <= Int64(Int.max / 16) else {
            throw CheckpointError.invalid("storage \(key) has element count \(describe(items[4]))")
        }
        let root = try storage(key: key, dtype: dtype, numel: Int(numel64), location: location)
        if items.count == 6, case .tuple(let view) = items[5] {
            // Very old files: (view_key, offset, view_size) in elements of the root storage.
            guard view.items.count == 3, view.items[0].stringValue != nil, let off = view.items[1].intValue,
                  let size = view.items[2].intValue, off >= 0, size >= 0, off + size <= Int64(root.numel) else {
                throw CheckpointError.invalid("legacy storage view of \(key) is malformed or out of bounds")
            }
            return .native(try StorageRef(key: key, dtype: dtype, numel: Int(size), location: location, bigEndian: bigEndian,
                                          provider: provider, baseOffset: Int(off) * dtype.itemSize))
        }
        return .native(root)
    }

    private func storage(key: String, dtype: DType, numel: Int, location: String) throws -> StorageRef {
        if let existing = storages[key] {
            guard existing.dtype == dtype || existing.nbytes == 0 else {
                throw CheckpointError.invalid("storage \(key) is referenced as both \(existing.dtype) and \(dtype)")
            }
            guard existing.numel == numel || existing.nbytes == 0 else {
                throw CheckpointError.invalid("storage \(key) is referenced with \(existing.numel) and \(numel) elements")
            }
            return existing
        }
        let s = try StorageRef(key: key, dtype: dtype, numel: numel, location: location, bigEndian: bigEndian, provider: provider)
        try onNewStorage?(key, dtype, s.nbytes)
        storages[key] = s
        storageOrder.append(key)
        return s
    }

    // MARK: calls

    func call(_ g: PyGlobal, args: [PyValue], kind: PyCallKind) throws -> PyValue? {
        switch (g.module, g.name) {
        case ("torch._utils", "_rebuild_tensor_v2"):
            guard (6...7).contains(args.count) else { throw bad(g, args, "6 or 7 arguments") }
            let t = try tensor(storage: args[0], offset: args[1], size: args[2], stride: args[3], dtype: nil, g: g)
            t.requiresGrad = args[4].intValue == 1
            if args.count == 7 { try applyMetadata(args[6], to: t) }
            return .native(t)
        case ("torch._utils", "_rebuild_tensor_v3"):
            guard (7...8).contains(args.count), case .global(let dg) = args[6], let dtype = DType(global: dg) else {
                throw bad(g, args, "7 or 8 arguments with a dtype")
            }
            let t = try tensor(storage: args[0], offset: args[1], size: args[2], stride: args[3], dtype: dtype, g: g)
            t.requiresGrad = args[4].intValue == 1
            if args.count == 8 { try applyMetadata(args[7], to: t) }
            return .native(t)
        case ("torch._utils", "_rebuild_tensor"):
            guard args.count == 4 else { throw bad(g, args, "4 arguments") }
            return .native(try tensor(storage: args[0], offset: args[1], size: args[2], stride: args[3], dtype: nil, g: g))
        case ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"):
            let withState = g.name.hasSuffix("state")
            guard args.count == (withState ? 4 : 3), case .native(let n) = args[0], let t = n as? TensorRef else {
                throw bad(g, args, withState ? "(tensor, requires_grad, hooks, state)" : "(tensor, requires_grad, hooks)")
            }
            t.isParameter = true
            t.requiresGrad = args[1].intValue == 1
            if withState { t.pythonState = args[3] }
            return .native(t)
        case ("torch.nn.parameter", "Parameter") where kind == .newobj:
            guard let first = args.first, case .native(let n) = first, let t = n as? TensorRef else { return nil }
            t.isParameter = true
            if args.count > 1 { t.requiresGrad = args[1].intValue == 1 }
            return .native(t)
        case ("torch._tensor", "_rebuild_from_type_v2"):
            guard args.count == 4, case .global(let inner) = args[0], case .tuple(let innerArgs) = args[2] else {
                throw bad(g, args, "(func, new_type, args, state)")
            }
            guard let v = try call(inner, args: innerArgs.items, kind: .reduce), case .native(let n) = v, let t = n as? TensorRef else {
                throw CheckpointError.unsupported("_rebuild_from_type_v2 with inner function \(inner)")
            }
            if case .global(let cls) = args[1], cls != PyGlobal("torch", "Tensor") { t.pythonClass = cls }
            if case .none = args[3] {} else { t.pythonState = args[3] }
            return .native(t)
        case ("torch._utils", "_rebuild_qtensor"):
            guard args.count == 7, case .tuple(let q) = args[4] else { throw bad(g, args, "7 arguments") }
            let t = try tensor(storage: args[0], offset: args[1], size: args[2], stride: args[3], dtype: nil, g: g)
            let scheme: String
            if case .global(let s) = q.items.first ?? .none { scheme = s.name } else { scheme = "unknown" }
            t.quantization = Quantization(scheme: scheme, parameters: Array(q.items.dropFirst()))
            return .native(t)
        case ("torch._utils", "_rebuild_sparse_tensor"):
            guard args.count == 2 else { throw bad(g, args, "(layout, data)") }
            return .native(try SparseCOO.densify(layout: args[0], data: args[1]))
        case ("torch._utils", "_rebuild_meta_tensor_no_storage"):
            guard args.count == 4, case .global(let dg) = args[0], let dtype = DType(global: dg) else { throw bad(g, args, "(dtype, size, stride, requires_grad)") }
            return .native(try TensorRef(storage: nil, dtype: dtype, shape: try ints(args[1], "size"), strides: try ints(args[2], "stride"), storageOffset: 0))
        case ("torch._utils", "_rebuild_device_tensor_from_cpu_tensor"):
            guard let first = args.first, case .native(let n) = first, n is TensorRef else { return nil }
            return first
        case ("torch", "Size"):
            guard args.count == 1, let items = args[0].sequenceItems else { return nil }
            return .tuple(PyTuple(items))
        case ("torch", "device"):
            guard let type = args.first?.stringValue else { return nil }
            if args.count == 2, let index = args[1].intValue { return .str("\(type):\(index)") }
            return .str(type)
        case ("torch.serialization", "_get_layout"):
            return args.first.flatMap { $0.stringValue }.map { .str($0) }
        case ("torch.torch_version", "TorchVersion"):
            return args.first.flatMap { $0.stringValue }.map { .str($0) }
        case ("torch.storage", "_load_from_bytes"):
            guard args.count == 1, case .bytes(let blob) = args[0] else { return nil }
            guard nestingDepth < 2 else { throw CheckpointError.unsupported("torch.storage._load_from_bytes nested deeper than 2 levels") }
            do {
                let nested = try Checkpoint(file: MappedFile(bytes: blob, name: "<nested _load_from_bytes blob>"),
                                            options: .init(pickle: nestedOptions), nestingDepth: nestingDepth + 1)
                return nested.root
            } catch let e as NestedBlobError {
                throw e  // located once, at the innermost blob
            } catch {
                throw NestedBlobError(message: "\(error)")
            }
        case ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"):
            return .native(NumpyArray())
        case ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"):
            // Protocol 5 arrays: (buffer, dtype, shape, order).
            guard args.count == 4, case .native(let n) = args[1], n is NumpyDType else { return nil }
            let a = NumpyArray()
            try a.build(.tuple(PyTuple([.int(1), args[2], args[1], .bool(args[3].stringValue == "F"), args[0]])))
            return .native(a)
        case ("numpy", "dtype"):
            guard let code = args.first?.stringValue else { return nil }
            return .native(NumpyDType(code: code))
        case ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"):
            guard args.count == 2, case .native(let n) = args[0], let dt = n as? NumpyDType else { return nil }
            guard case .bytes(let raw) = args[1] else { return args[1] }  // object scalars carry the Python value
            return dt.scalar(raw) ?? nil
        default:
            return nil
        }
    }

    func build(_ target: PyNative, state: PyValue) throws -> Bool {
        switch target {
        case let t as TensorRef:
            t.pythonState = state
            return true
        case let a as NumpyArray:
            try a.build(state)
            return true
        case let d as NumpyDType:
            d.build(state)
            return true
        default:
            return false
        }
    }

    func strictAllowed(_ g: PyGlobal) -> Bool { TorchHooks.weightsOnlyAllowed(g) }

    /// torch 2.15 `_get_allowed_globals()` (spec §7), by name.
    static func weightsOnlyAllowed(_ g: PyGlobal) -> Bool {
        switch g.module {
        case "torch":
            if DType(torchName: g.name) != nil || DType(storageClass: g.name) != nil { return true }
            if g.name.hasSuffix("Tensor") || ["Size", "device", "per_tensor_affine", "per_tensor_symmetric", "per_channel_affine",
                                               "per_channel_symmetric", "per_channel_affine_float_qparams"].contains(g.name) { return true }
            return false
        case "torch.cuda": return g.name.hasSuffix("Storage") || g.name.hasSuffix("Tensor")
        case "torch.sparse": return g.name.hasSuffix("Tensor")
        case "torch.storage": return g.name == "TypedStorage" || g.name == "UntypedStorage"
        case "torch.nn.parameter": return g.name == "Parameter"
        case "torch.serialization": return g.name == "_get_layout"
        case "torch._tensor": return g.name == "_rebuild_from_type_v2"
        case "torch._utils":
            return ["_rebuild_parameter", "_rebuild_parameter_with_state", "_rebuild_qtensor", "_rebuild_tensor",
                    "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_sparse_tensor", "_rebuild_meta_tensor_no_storage",
                    "_rebuild_wrapper_subclass", "_rebuild_device_tensor_from_numpy",
                    "_rebuild_device_tensor_from_cpu_tensor", "_rebuild_nested_tensor"].contains(g.name)
        default: return false
        }
    }

    // MARK: helpers

    private func tensor(storage: PyValue, offset: PyValue, size: PyValue, stride: PyValue, dtype: DType?, g: PyGlobal) throws -> TensorRef {
        guard case .native(let n) = storage, let s = n as? StorageRef else {
            throw CheckpointError.invalid("\(g.name) expects a storage, got \(storage.typeName)")
        }
        guard let off = offset.intValue, off >= 0, off <= Int64(Int.max / 16) else { throw CheckpointError.invalid("storage offset \(describe(offset))") }
        return try TensorRef(storage: s, dtype: dtype ?? s.dtype, shape: try ints(size, "size"), strides: try ints(stride, "stride"), storageOffset: Int(off))
    }

    private func ints(_ v: PyValue, _ what: String) throws -> [Int] {
        guard let items = v.sequenceItems else { throw CheckpointError.invalid("tensor \(what) must be a tuple, got \(v.typeName)") }
        guard items.count <= TensorRef.maxDims else { throw CheckpointError.invalid("tensor \(what) has \(items.count) dimensions (limit \(TensorRef.maxDims))") }
        return try items.map {
            guard let i = $0.intValue, i >= Int64(Int.min / 16), i <= Int64(Int.max / 16) else {
                throw CheckpointError.invalid("tensor \(what) entry \(describe($0)) is not a usable integer")
            }
            return Int(i)
        }
    }

    private func applyMetadata(_ meta: PyValue, to t: TensorRef) throws {
        guard case .dict(let d) = meta else { return }
        if d[string: "conj"]?.intValue == 1 { t.conj = true }
        if d[string: "neg"]?.intValue == 1 { t.neg = true }
    }

    private func bad(_ g: PyGlobal, _ args: [PyValue], _ expected: String) -> CheckpointError {
        .invalid("\(g) called with \(args.count) argument(s) (\(args.map(\.typeName).joined(separator: ", "))); expected \(expected)")
    }
}

func describe(_ v: PyValue) -> String {
    switch v {
    case .str(let s): return "'\(s.prefix(64))'"
    case .int(let i): return String(i)
    case .bigInt(let b): return b.description
    case .global(let g): return g.description
    default: return v.typeName
    }
}

/// A failure inside a `torch.storage._load_from_bytes` blob. Its message already names the offset inside that
/// blob's pickle, so the enclosing pickles pass it on unchanged (no offset appended per nesting level).
struct NestedBlobError: LocatedHookError, CustomStringConvertible {
    let message: String
    var description: String { "\(message) (inside a torch.storage._load_from_bytes blob)" }
}
