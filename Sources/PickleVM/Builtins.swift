// The Python builtins and standard-library names that get meaning (spec §9.3). Everything is implemented here in
// Swift with strict argument checks; a call that does not match the expected shape stays an inert placeholder.

extension PyGlobal {
    /// Whether `torch.load(weights_only=True)` would accept this Python (not torch) name; the torch names are
    /// TorchFormats' to judge.
    public var isWeightsOnlyBuiltin: Bool { Builtins.strictAllowed(self) }

    /// Callables that run code or reach the system when a pickle calls them (picklescan's "dangerous" globals):
    /// eval/exec-like builtins, getattr (the gadget behind most exploits), and the os/subprocess/socket family.
    public var isKnownCodeExecution: Bool {
        let modules: Set<String> = ["os", "posix", "nt", "subprocess", "sys", "socket", "shutil", "runpy", "webbrowser",
                                    "pty", "commands", "pickle", "_pickle", "bdb", "pdb", "asyncio", "httplib",
                                    "http.client", "requests", "aiohttp", "ctypes", "importlib", "code", "timeit"]
        let builtins: Set<String> = ["eval", "exec", "execfile", "compile", "open", "getattr", "__import__", "apply",
                                     "breakpoint", "input", "globals", "locals", "setattr", "delattr", "vars"]
        if (module == "builtins" || module == "__builtin__" || module == "__builtins__") { return builtins.contains(name) }
        return modules.contains(module) || modules.contains(where: { module.hasPrefix($0 + ".") })
    }
}

enum Builtins {
    /// Names torch's weights_only unpickler accepts that belong to Python rather than torch (spec §7).
    static func strictAllowed(_ g: PyGlobal) -> Bool {
        switch (g.module, g.name) {
        case ("collections", "OrderedDict"), ("collections", "Counter"), ("_codecs", "encode"),
             ("builtins", "bytearray"), ("builtins", "set"), ("builtins", "complex"):
            return true
        default:
            return false
        }
    }

    /// Returns nil when the global has no built-in meaning (the VM then asks the hooks, then makes a placeholder).
    static func call(_ g: PyGlobal, args: [PyValue], kind: PyCallKind) throws -> PyValue? {
        switch (g.module, g.name) {
        case ("collections", "OrderedDict"), ("collections", "Counter"), ("builtins", "dict"):
            let d = PyDict()
            d.pythonClass = g
            if args.isEmpty { return .dict(d) }
            guard args.count == 1 else { return nil }
            switch args[0] {
            case .dict(let src):
                for (k, v) in src.entries { d.set(k, v) }
            case .list, .tuple:
                // Python 2 OrderedDict: a list of [key, value] pairs (spec §6.2).
                for pair in args[0].sequenceItems ?? [] {
                    guard let kv = pair.sequenceItems, kv.count == 2 else { return nil }
                    d.set(try PyKey(kv[0]), kv[1])
                }
            default: return nil
            }
            return .dict(d)
        case ("collections", "defaultdict"):
            let d = PyDict()
            d.pythonClass = g
            if let factory = args.first { d.attributes["default_factory"] = factory }
            if args.count == 2, case .dict(let src) = args[1] { for (k, v) in src.entries { d.set(k, v) } }
            return args.count <= 2 ? .dict(d) : nil
        case ("builtins", "set"), ("builtins", "frozenset"):
            let frozen = g.name == "frozenset"
            if args.isEmpty { return .set(PySet([], frozen: frozen)) }
            guard args.count == 1, let items = args[0].sequenceItems else { return nil }
            return .set(PySet(items, frozen: frozen))
        case ("builtins", "list"):
            if args.isEmpty { return .list(PyList()) }
            guard args.count == 1, let items = args[0].sequenceItems else { return nil }
            return .list(PyList(items))
        case ("builtins", "tuple"):
            if args.isEmpty { return .tuple(PyTuple([])) }
            guard args.count == 1, let items = args[0].sequenceItems else { return nil }
            return .tuple(PyTuple(items))
        case ("builtins", "bytearray"), ("builtins", "bytes"):
            if args.isEmpty { return .bytes([]) }
            if args.count == 1, case .bytes(let b) = args[0] { return .bytes(b) }
            if args.count == 2, case .str(let s) = args[0], case .str(let enc) = args[1] { return encode(s, enc).map { .bytes($0) } }
            return nil
        case ("_codecs", "encode"):
            guard args.count == 2, case .str(let s) = args[0], case .str(let enc) = args[1] else { return nil }
            return encode(s, enc).map { .bytes($0) }
        case ("builtins", "complex"):
            guard (1...2).contains(args.count), let re = args[0].doubleValue else { return nil }
            let im = args.count == 2 ? args[1].doubleValue : 0
            return im.map { .complex(re, $0) }
        case ("copyreg", "_reconstructor"):
            // `(cls, base, state)`: an old-style object of `cls`; keep it inert with its state.
            guard args.count == 3 else { return nil }
            let o = PyObject(callee: args[0], kind: .reduce, args: [args[1]])
            if case .none = args[2] {} else { o.states.append(args[2]) }
            return .object(o)
        default:
            return nil
        }
    }

    /// `_codecs.encode(str, encoding)` for the encodings protocol-2 pickles use for bytes.
    static func encode(_ s: String, _ encoding: String) -> [UInt8]? {
        switch encoding.lowercased() {
        case "latin1", "latin-1", "iso-8859-1", "iso8859-1":
            var out: [UInt8] = []
            out.reserveCapacity(s.unicodeScalars.count)
            for u in s.unicodeScalars {
                guard u.value < 256 else { return nil }
                out.append(UInt8(u.value))
            }
            return out
        case "utf-8", "utf8":
            return Array(s.utf8)
        default:
            return nil
        }
    }
}

extension PyValue {
    /// Items of a list, tuple or set.
    public var sequenceItems: [PyValue]? {
        switch self {
        case .list(let l): return l.items
        case .tuple(let t): return t.items
        case .set(let s): return s.items
        default: return nil
        }
    }

    public var intValue: Int64? {
        switch self {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    public var doubleValue: Double? {
        switch self {
        case .float(let d): return d
        case .int(let i): return Double(i)
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    public var stringValue: String? {
        switch self {
        case .str(let s): return s
        case .py2str(let b): return String(validating: b, as: UTF8.self)
        case .bytes(let b): return String(validating: b, as: UTF8.self)
        default: return nil
        }
    }

    public var dictValue: PyDict? { if case .dict(let d) = self { return d } else { return nil } }
    public var objectValue: PyObject? { if case .object(let o) = self { return o } else { return nil } }
}
