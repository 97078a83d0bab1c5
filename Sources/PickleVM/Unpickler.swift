// A pickle interpreter for protocols 0 to 5 that builds inert values (spec §3, §9).
//
// Follows CPython's `Lib/pickle.py` semantics where data is well formed: a stack plus a metastack for MARK, a memo
// of references, and STOP returning the top of the stack. Every GLOBAL is a name; only the small allowlist in
// `Builtins.swift` and the caller's `PickleHooks` give any name meaning, always by Swift code.

/// Meaning supplied by the layer above (TorchFormats): persistent ids, torch rebuild functions, strict allowlist.
public protocol PickleHooks: AnyObject {
    /// BINPERSID / PERSID. Throw for pids the container does not understand.
    func persistentLoad(_ pid: PyValue) throws -> PyValue
    /// REDUCE / NEWOBJ / NEWOBJ_EX / INST / OBJ of `callee`. Return nil to leave it as an inert placeholder.
    func call(_ callee: PyGlobal, args: [PyValue], kind: PyCallKind) throws -> PyValue?
    /// BUILD on a native value (e.g. a tensor). Return false if the value does not accept BUILD.
    func build(_ target: PyNative, state: PyValue) throws -> Bool
    /// Whether `weights_only`-style strict mode accepts this global.
    func strictAllowed(_ global: PyGlobal) -> Bool
}

public struct UnpicklerOptions: Sendable {
    /// Refuse what `torch.load(weights_only=True)` refuses by name (globals outside its allowlist), plus sloppy
    /// framing, unclosed MARKs and trailing bytes. Both modes are non-executing.
    public var strict = false
    public var maxStackDepth = 1_000_000
    public var maxMarkDepth = 100_000
    public var maxMemoEntries = 10_000_000
    /// Longest LONG1 / LONG4 integer accepted.
    public var maxIntegerBytes = 1 << 20
    /// Opcodes executed, as a multiple of the pickle size (pickles have no loops; this is defence in depth).
    public var maxOpsPerByte = 100
    public init() {}
}

public struct PickleResult {
    public let value: PyValue
    /// The PROTO opcode's argument; nil for protocols 0 and 1.
    public let protocolVersion: Int?
    /// The offset just past STOP.
    public let endOffset: Int
    public let warnings: [String]
    /// Every global the pickle named, in first-seen order.
    public let globals: [PyGlobal]
}

public final class Unpickler {
    private var reader: ByteReader
    private let hooks: PickleHooks?
    private let options: UnpicklerOptions
    private var stack: [PyValue] = []
    private var metastack: [[PyValue]] = []
    private var memo: [UInt64: PyValue] = [:]
    private var protocolVersion: Int?
    private var warnings: [String] = []
    private var globalsSeen: [PyGlobal] = []
    private var globalsSet: Set<PyGlobal> = []
    private var disallowed: [String] = []
    private var opStart = 0
    private let startOffset: Int
    /// End of the current FRAME (strict mode checks that no opcode straddles it).
    private var frameEnd: Int?

    /// Interprets the pickle that starts at `offset` in `data` and stops right after its STOP.
    public init(_ data: UnsafeRawBufferPointer, offset: Int = 0, hooks: PickleHooks?, options: UnpicklerOptions = .init()) {
        self.reader = ByteReader(data, offset: offset)
        self.startOffset = offset
        self.hooks = hooks
        self.options = options
    }

    /// Convenience for a whole byte array holding one pickle.
    public static func load(_ bytes: [UInt8], hooks: PickleHooks? = nil, options: UnpicklerOptions = .init()) throws -> PickleResult {
        try bytes.withUnsafeBytes { try Unpickler($0, hooks: hooks, options: options).load() }
    }

    public func load() throws -> PickleResult {
        defer { stack = []; metastack = []; memo = [:] }
        let size = reader.remaining
        let maxOps = max(1024, size.multipliedReportingOverflow(by: options.maxOpsPerByte).partialValue)
        var ops = 0
        while true {
            ops += 1
            if ops > maxOps { throw PickleError.limitExceeded("more than \(maxOps) opcodes", offset: reader.offset) }
            opStart = reader.offset
            guard !reader.atEnd else { throw PickleError.noStop }
            let code = try reader.u8("opcode")
            guard let op = Opcode(rawValue: code) else { throw PickleError.unknownOpcode(code, offset: opStart) }
            if op == .stop {
                let value = try pop(op)
                if !stack.isEmpty || !metastack.isEmpty {
                    if options.strict { throw PickleError.malformed("values or MARKs left on the stack at STOP", offset: opStart) }
                    warnings.append("pickle left \(metastack.count) unclosed MARK(s) and \(stack.count) value(s) at STOP (ignored, as CPython does)")
                }
                if !disallowed.isEmpty { throw PickleError.disallowedGlobals(disallowed) }
                return PickleResult(value: value, protocolVersion: protocolVersion, endOffset: reader.offset,
                                    warnings: warnings, globals: globalsSeen)
            }
            try execute(op)
            if options.strict, let end = frameEnd {
                if reader.offset > end { throw PickleError.malformed("opcode at \(opStart) runs past the end of its FRAME at \(end)", offset: opStart) }
                if reader.offset == end { frameEnd = nil }
            }
        }
    }

    // MARK: - Stack helpers

    private func push(_ v: PyValue) throws {
        if stack.count >= options.maxStackDepth { throw PickleError.limitExceeded("stack deeper than \(options.maxStackDepth)", offset: opStart) }
        stack.append(v)
    }

    private func pop(_ op: Opcode) throws -> PyValue {
        guard let v = stack.popLast() else { throw PickleError.stackUnderflow(op.name, offset: opStart) }
        return v
    }

    private func top(_ op: Opcode) throws -> PyValue {
        guard let v = stack.last else { throw PickleError.stackUnderflow(op.name, offset: opStart) }
        return v
    }

    private func popMark(_ op: Opcode) throws -> [PyValue] {
        guard let previous = metastack.popLast() else { throw PickleError.markMissing(op.name, offset: opStart) }
        let items = stack
        stack = previous
        return items
    }

    private func memoPut(_ index: UInt64, _ op: Opcode) throws {
        let v = try top(op)
        if memo[index] == nil, memo.count >= options.maxMemoEntries {
            throw PickleError.limitExceeded("more than \(options.maxMemoEntries) memo entries", offset: opStart)
        }
        memo[index] = v
    }

    private func memoGet(_ index: UInt64) throws {
        guard let v = memo[index] else { throw PickleError.memoMissing(index, offset: opStart) }
        try push(v)
    }

    private func typeError(_ message: String) -> PickleError { .typeError(message, offset: opStart) }

    // MARK: - Opcodes

    private func execute(_ op: Opcode) throws {
        switch op {
        case .mark:
            if metastack.count >= options.maxMarkDepth { throw PickleError.limitExceeded("MARKs nested deeper than \(options.maxMarkDepth)", offset: opStart) }
            metastack.append(stack); stack = []
        case .stop: break  // handled by load()
        case .pop:
            if stack.isEmpty { _ = try popMark(op) } else { stack.removeLast() }
        case .popMark: _ = try popMark(op)
        case .dup: try push(try top(op))

        // Integers and floats
        case .int:
            let text = try asciiLine("INT")
            if text == "00" { try push(.bool(false)) } else if text == "01" { try push(.bool(true)) } else { try push(try decimalInteger(text)) }
        case .binint: try push(.int(Int64(try reader.int32("BININT"))))
        case .binint1: try push(.int(Int64(try reader.u8("BININT1"))))
        case .binint2: try push(.int(Int64(try reader.uint(2, "BININT2"))))
        case .long:
            var text = try asciiLine("LONG")
            if text.hasSuffix("L") { text.removeLast() }
            try push(try decimalInteger(text))
        case .long1:
            let n = Int(try reader.u8("LONG1 length"))
            try push(twosComplement(try reader.array(n, "LONG1")))
        case .long4:
            let n = Int(try reader.int32("LONG4 length"))
            guard n >= 0 else { throw PickleError.malformed("negative LONG4 length \(n)", offset: opStart) }
            guard n <= options.maxIntegerBytes else { throw PickleError.limitExceeded("LONG4 of \(n) bytes", offset: opStart) }
            try push(twosComplement(try reader.array(n, "LONG4")))
        case .float:
            let text = try asciiLine("FLOAT")
            guard let d = parsePythonFloat(text) else { throw PickleError.malformed("FLOAT '\(text)' is not a number", offset: opStart) }
            try push(.float(d))
        case .binfloat:
            try push(.float(Double(bitPattern: (try reader.bytes(8, "BINFLOAT")).reduce(UInt64(0)) { ($0 << 8) | UInt64($1) })))

        // Strings and bytes
        case .string:
            try push(.py2str(try parseStringLiteral(try reader.line("STRING"))))
        case .binstring:
            let n = Int(try reader.int32("BINSTRING length"))
            guard n >= 0 else { throw PickleError.malformed("negative BINSTRING length", offset: opStart) }
            try push(.py2str(try reader.array(n, "BINSTRING")))
        case .shortBinstring: try push(.py2str(try reader.array(Int(try reader.u8()), "SHORT_BINSTRING")))
        case .unicode: try push(.str(try rawUnicodeEscape(try reader.line("UNICODE"))))
        case .binunicode: try push(.str(try utf8(try reader.array(try length(4, "BINUNICODE"), "BINUNICODE"))))
        case .shortBinunicode: try push(.str(try utf8(try reader.array(Int(try reader.u8()), "SHORT_BINUNICODE"))))
        case .binunicode8: try push(.str(try utf8(try reader.array(try length(8, "BINUNICODE8"), "BINUNICODE8"))))
        case .binbytes: try push(.bytes(try reader.array(try length(4, "BINBYTES"), "BINBYTES")))
        case .shortBinbytes: try push(.bytes(try reader.array(Int(try reader.u8()), "SHORT_BINBYTES")))
        case .binbytes8: try push(.bytes(try reader.array(try length(8, "BINBYTES8"), "BINBYTES8")))
        case .bytearray8: try push(.bytes(try reader.array(try length(8, "BYTEARRAY8"), "BYTEARRAY8")))
        case .nextBuffer, .readonlyBuffer:
            throw PickleError.rejectedOpcode(op.name, offset: opStart, why: "out-of-band buffers never occur in checkpoints")

        // Constants
        case .none: try push(.none)
        case .newtrue: try push(.bool(true))
        case .newfalse: try push(.bool(false))

        // Containers
        case .emptyTuple: try push(.tuple(PyTuple([])))
        case .tuple: try push(.tuple(PyTuple(try popMark(op))))
        case .tuple1:
            let a = try pop(op); try push(.tuple(PyTuple([a])))
        case .tuple2:
            let b = try pop(op), a = try pop(op); try push(.tuple(PyTuple([a, b])))
        case .tuple3:
            let c = try pop(op), b = try pop(op), a = try pop(op); try push(.tuple(PyTuple([a, b, c])))
        case .emptyList: try push(.list(PyList()))
        case .list: try push(.list(PyList(try popMark(op))))
        case .emptyDict: try push(.dict(PyDict()))
        case .dict:
            let items = try popMark(op)
            guard items.count % 2 == 0 else { throw PickleError.malformed("DICT with an odd number of items", offset: opStart) }
            let d = PyDict()
            for i in stride(from: 0, to: items.count, by: 2) { d.set(try key(items[i]), items[i + 1]) }
            try push(.dict(d))
        case .emptySet: try push(.set(PySet()))
        case .frozenset: try push(.set(PySet(try popMark(op), frozen: true)))
        case .append:
            let v = try pop(op)
            try append([v], to: try top(op), op)
        case .appends:
            let items = try popMark(op)
            try append(items, to: try top(op), op)
        case .setitem:
            let v = try pop(op), k = try pop(op)
            try setItems([k, v], on: try top(op), op)
        case .setitems:
            let items = try popMark(op)
            guard items.count % 2 == 0 else { throw PickleError.malformed("SETITEMS with an odd number of items", offset: opStart) }
            try setItems(items, on: try top(op), op)
        case .additems:
            let items = try popMark(op)
            guard case .set(let s) = try top(op), !s.frozen else { throw typeError("ADDITEMS on \(try top(op).typeName)") }
            s.items.append(contentsOf: items)

        // Memo
        case .put: try memoPut(try decimalIndex(try asciiLine("PUT")), op)
        case .binput: try memoPut(UInt64(try reader.u8("BINPUT")), op)
        case .longBinput: try memoPut(try reader.uint(4, "LONG_BINPUT"), op)
        case .memoize: try memoPut(UInt64(memo.count), op)
        case .get: try memoGet(try decimalIndex(try asciiLine("GET")))
        case .binget: try memoGet(UInt64(try reader.u8("BINGET")))
        case .longBinget: try memoGet(try reader.uint(4, "LONG_BINGET"))

        // Names and calls (never executed)
        case .global:
            let module = try nameLine("GLOBAL module"), name = try nameLine("GLOBAL name")
            try push(.global(noteGlobal(module, name)))
        case .stackGlobal:
            let nameValue = try pop(op), moduleValue = try pop(op)
            guard case .str(let module) = moduleValue, case .str(let name) = nameValue else {
                throw typeError("STACK_GLOBAL needs two str operands, got \(moduleValue.typeName) and \(nameValue.typeName)")
            }
            try push(.global(noteGlobal(module, name)))
        case .ext1, .ext2, .ext4:
            throw PickleError.rejectedOpcode(op.name, offset: opStart, why: "the copyreg extension registry is never used by torch")
        case .reduce:
            let args = try pop(op), callee = try pop(op)
            guard case .tuple(let t) = args else { throw typeError("REDUCE arguments must be a tuple, got \(args.typeName)") }
            try push(try call(callee, args: t.items, kind: .reduce))
        case .newobj:
            let args = try pop(op), cls = try pop(op)
            guard case .tuple(let t) = args else { throw typeError("NEWOBJ arguments must be a tuple, got \(args.typeName)") }
            try push(try call(cls, args: t.items, kind: .newobj))
        case .newobjEx:
            let kwargs = try pop(op), args = try pop(op), cls = try pop(op)
            guard case .tuple(let t) = args, case .dict(let kw) = kwargs else {
                throw typeError("NEWOBJ_EX needs a tuple and a dict, got \(args.typeName) and \(kwargs.typeName)")
            }
            try push(try call(cls, args: t.items, kind: .newobjEx, kwargs: kw))
        case .inst:
            let module = try nameLine("INST module"), name = try nameLine("INST name")
            let g = noteGlobal(module, name)
            let args = try popMark(op)
            try push(try call(.global(g), args: args, kind: .inst))
        case .obj:
            var items = try popMark(op)
            guard !items.isEmpty else { throw PickleError.stackUnderflow(op.name, offset: opStart) }
            let cls = items.removeFirst()
            try push(try call(cls, args: items, kind: .obj))
        case .build:
            let state = try pop(op)
            try build(try top(op), state: state)
        case .persid:
            let pid = try utf8(try reader.line("PERSID"))
            try push(try persistentLoad(.str(pid)))
        case .binpersid:
            try push(try persistentLoad(try pop(op)))

        // Framing
        case .proto:
            let v = Int(try reader.u8("PROTO"))
            guard v <= 5 else { throw PickleError.unsupportedProtocol(v, offset: opStart) }
            guard opStart == startOffset else { throw PickleError.malformed("PROTO may only be the first opcode", offset: opStart) }
            protocolVersion = v
        case .frame:
            let n = try reader.uint(8, "FRAME length")
            // FRAME is only a buffering hint; nothing executes, so ignoring it cannot hide a payload (spec §3.3).
            if options.strict {
                guard n <= UInt64(reader.remaining) else {
                    throw PickleError.malformed("FRAME of \(n) bytes runs past the end of the data", offset: opStart)
                }
                frameEnd = n == 0 ? nil : reader.offset + Int(n)
            }
        }
    }

    // MARK: - Semantics

    private func noteGlobal(_ module: String, _ name: String) -> PyGlobal {
        let g = PythonNames.normalise(module, name)
        if globalsSet.insert(g).inserted {
            globalsSeen.append(g)
            if options.strict, !Builtins.strictAllowed(g), !(hooks?.strictAllowed(g) ?? false) {
                disallowed.append(g.description)
            }
        }
        return g
    }

    private func key(_ v: PyValue) throws -> PyKey {
        do { return try PyKey(v) } catch { throw typeError("\(error)") }
    }

    private func append(_ items: [PyValue], to target: PyValue, _ op: Opcode) throws {
        switch target {
        case .list(let l): l.items.append(contentsOf: items)
        case .object(let o): o.listItems.append(contentsOf: items)
        default: throw typeError("\(op.name) on \(target.typeName) (only lists and list-like objects accept items)")
        }
    }

    private func setItems(_ items: [PyValue], on target: PyValue, _ op: Opcode) throws {
        let dict: PyDict
        switch target {
        case .dict(let d): dict = d
        case .object(let o): dict = o.dictItems
        default: throw typeError("\(op.name) on \(target.typeName) (only dicts and dict-like objects accept items)")
        }
        for i in stride(from: 0, to: items.count, by: 2) { dict.set(try key(items[i]), items[i + 1]) }
    }

    private func build(_ target: PyValue, state: PyValue) throws {
        switch target {
        case .object(let o): o.states.append(state)
        case .dict(let d):
            // BUILD on an OrderedDict sets attributes (`_metadata`), never items (spec §4.5).
            var parts: [PyValue] = [state]
            if case .tuple(let t) = state, t.items.count == 2 { parts = t.items }
            for part in parts {
                switch part {
                case .none: continue
                case .dict(let s):
                    for (k, v) in s.entries { d.attributes[k.description] = v }
                default: throw typeError("BUILD state for a dict must be a dict, got \(part.typeName)")
                }
            }
        case .native(let n):
            guard let hooks, try hooks.build(n, state: state) else { throw typeError("BUILD on \(n.pythonTypeName)") }
        default:
            throw typeError("BUILD on \(target.typeName)")
        }
    }

    private func call(_ callee: PyValue, args: [PyValue], kind: PyCallKind, kwargs: PyDict? = nil) throws -> PyValue {
        if case .global(let g) = callee, kwargs == nil || kwargs?.count == 0 {
            do {
                if let v = try Builtins.call(g, args: args, kind: kind) { return v }
                if let hooks, let v = try hooks.call(g, args: args, kind: kind) { return v }
            } catch let e as PickleError {
                throw e
            } catch let e as LocatedHookError {
                throw e
            } catch {
                throw PickleError.hook("\(error)", offset: opStart)
            }
        }
        return .object(PyObject(callee: callee, kind: kind, args: args, kwargs: kwargs))
    }

    private func persistentLoad(_ pid: PyValue) throws -> PyValue {
        guard let hooks else { throw PickleError.rejectedOpcode("BINPERSID", offset: opStart, why: "this pickle may not reference storages") }
        do { return try hooks.persistentLoad(pid) } catch let e as PickleError { throw e } catch let e as LocatedHookError { throw e } catch {
            throw PickleError.hook("\(error)", offset: opStart)
        }
    }

    // MARK: - Text arguments

    private func length(_ width: Int, _ what: String) throws -> Int {
        let n = try reader.uint(width, "\(what) length")
        // Check against what is left before any allocation (spec H38).
        guard n <= UInt64(reader.remaining) else {
            throw PickleError.truncated(offset: opStart, needed: "\(what) of \(n) bytes with \(reader.remaining) left")
        }
        return Int(n)
    }

    private func asciiLine(_ what: String) throws -> String {
        let bytes = try reader.line(what, maxLength: 1 << 16)
        guard let s = String(validating: bytes, as: UTF8.self) else { throw PickleError.malformed("\(what) argument is not text", offset: opStart) }
        return s
    }

    private func nameLine(_ what: String) throws -> String {
        let bytes = try reader.line(what, maxLength: 4096)
        // A trailing CR is kept, as CPython keeps it (`os.system\r` must never become `os.system`).
        guard let s = String(validating: bytes, as: UTF8.self), !s.isEmpty else {
            throw PickleError.malformed("\(what) is not a valid UTF-8 name", offset: opStart)
        }
        return s
    }

    /// UTF-8 as CPython's `surrogatepass` decodes it: encoded surrogates are accepted (they become U+FFFD here),
    /// anything else invalid is an error (spec §3.4).
    private func utf8(_ bytes: [UInt8]) throws -> String {
        if let s = String(validating: bytes, as: UTF8.self) { return s }
        var cleaned = bytes
        var i = 0
        while i + 2 < cleaned.count {
            if cleaned[i] == 0xED, (0xA0...0xBF).contains(cleaned[i + 1]), (0x80...0xBF).contains(cleaned[i + 2]) {
                cleaned.replaceSubrange(i..<(i + 3), with: [0xEF, 0xBF, 0xBD])
            }
            i += 1
        }
        guard let s = String(validating: cleaned, as: UTF8.self) else { throw PickleError.malformed("string is not valid UTF-8", offset: opStart) }
        return s
    }

    private func decimalIndex(_ text: String) throws -> UInt64 {
        guard let v = UInt64(text) else { throw PickleError.malformed("memo index '\(text)'", offset: opStart) }
        return v
    }

    private func decimalInteger(_ text: String) throws -> PyValue {
        let t = text.trimmingCharacters(in: .whitespaces)
        if let v = Int64(t) { return .int(v) }
        guard t.count <= 4096, t.range(of: "^[+-]?[0-9]+$", options: .regularExpression) != nil else {
            throw PickleError.malformed("integer '\(t.prefix(40))'", offset: opStart)
        }
        // Convert decimal text to two's complement bytes.
        let negative = t.hasPrefix("-")
        var magnitude: [UInt8] = [0]  // little-endian base 256
        for ch in t.utf8 where ch >= 48 && ch <= 57 {
            var carry = Int(ch - 48)
            for i in magnitude.indices {
                let v = Int(magnitude[i]) * 10 + carry
                magnitude[i] = UInt8(v & 0xFF); carry = v >> 8
            }
            while carry > 0 { magnitude.append(UInt8(carry & 0xFF)); carry >>= 8 }
        }
        magnitude.append(0)  // sign byte
        if negative {
            var carry = 1
            for i in magnitude.indices { let v = Int(~magnitude[i]) + carry; magnitude[i] = UInt8(v & 0xFF); carry = v >> 8 }
        }
        return twosComplement(magnitude)
    }

    private func twosComplement(_ bytes: [UInt8]) -> PyValue {
        if bytes.isEmpty { return .int(0) }
        // Drop redundant sign-extension bytes, then use Int64 when it fits.
        var b = bytes
        while b.count > 1 {
            let last = b[b.count - 1], prev = b[b.count - 2]
            if (last == 0 && prev & 0x80 == 0) || (last == 0xFF && prev & 0x80 != 0) { b.removeLast() } else { break }
        }
        if b.count <= 8 {
            var v: UInt64 = (b.last! & 0x80 != 0) ? ~0 : 0
            for byte in b.reversed() { v = (v << 8) | UInt64(byte) }
            return .int(Int64(bitPattern: v))
        }
        return .bigInt(PyBigInt(littleEndianBytes: b))
    }
}

import Foundation

/// Python float text: `1.5`, `inf`, `-inf`, `nan`, `1e-05`.
func parsePythonFloat(_ text: String) -> Double? {
    let t = text.trimmingCharacters(in: .whitespaces)
    switch t.lowercased() {
    case "inf", "+inf", "infinity": return .infinity
    case "-inf", "-infinity": return -.infinity
    case "nan", "+nan", "-nan": return .nan
    default: return Double(t)
    }
}

/// A protocol-0 STRING argument: a Python 2 string literal in quotes, with backslash escapes.
func parseStringLiteral(_ raw: [UInt8]) throws -> [UInt8] {
    guard raw.count >= 2, let q = raw.first, q == 0x27 || q == 0x22, raw.last == q else {
        throw PickleError.malformed("STRING argument is not a quoted literal", offset: 0)
    }
    let body = raw[1..<(raw.count - 1)]
    var out: [UInt8] = []
    var i = body.startIndex
    func hex(_ c: UInt8) -> UInt8? {
        switch c { case 48...57: return c - 48; case 97...102: return c - 87; case 65...70: return c - 55; default: return nil }
    }
    while i < body.endIndex {
        let c = body[i]
        if c != 0x5C { out.append(c); i += 1; continue }
        i += 1
        guard i < body.endIndex else { throw PickleError.malformed("STRING ends with a backslash", offset: 0) }
        let e = body[i]; i += 1
        switch e {
        case 0x6E: out.append(0x0A)
        case 0x74: out.append(0x09)
        case 0x72: out.append(0x0D)
        case 0x30...0x37:
            var v = Int(e - 48)
            var k = 0
            while k < 2, i < body.endIndex, (0x30...0x37).contains(body[i]) { v = v * 8 + Int(body[i] - 48); i += 1; k += 1 }
            out.append(UInt8(v & 0xFF))
        case 0x78:
            guard i + 1 < body.endIndex, let h = hex(body[i]), let l = hex(body[i + 1]) else {
                throw PickleError.malformed("bad \\x escape in STRING", offset: 0)
            }
            out.append(h << 4 | l); i += 2
        case 0x61: out.append(0x07)
        case 0x62: out.append(0x08)
        case 0x66: out.append(0x0C)
        case 0x76: out.append(0x0B)
        case 0x5C, 0x27, 0x22: out.append(e)
        case 0x0A: break  // line continuation
        default: out.append(0x5C); out.append(e)
        }
    }
    return out
}

/// A protocol-0 UNICODE argument: raw-unicode-escape (`\uXXXX`, `\UXXXXXXXX`; other bytes are Latin-1).
func rawUnicodeEscape(_ raw: [UInt8]) throws -> String {
    var scalars = String.UnicodeScalarView()
    var i = 0
    while i < raw.count {
        if raw[i] == 0x5C, i + 1 < raw.count, raw[i + 1] == 0x75 || raw[i + 1] == 0x55 {
            let n = raw[i + 1] == 0x75 ? 4 : 8
            guard i + 2 + n <= raw.count, let v = UInt32(String(decoding: raw[(i + 2)..<(i + 2 + n)], as: UTF8.self), radix: 16) else {
                throw PickleError.malformed("bad escape in UNICODE", offset: 0)
            }
            scalars.append(Unicode.Scalar(v) ?? "\u{FFFD}")
            i += 2 + n
        } else {
            scalars.append(Unicode.Scalar(raw[i])); i += 1
        }
    }
    return String(scalars)
}
