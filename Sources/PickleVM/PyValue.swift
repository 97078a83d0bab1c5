// The inert object model of an unpickled file.
//
// Nothing here can run code: a Python class or function named by the pickle is only a `PyGlobal` (module, name).
// Lists, dicts, sets, tuples and placeholder objects are classes, because the pickle memo aliases them and mutates
// them after they were stored (spec §3.3): a value copy would silently lose SETITEMS that arrive later.

import Foundation

/// A value produced by the pickle VM.
public enum PyValue {
    case none
    case bool(Bool)
    case int(Int64)
    case bigInt(PyBigInt)
    case float(Double)
    case complex(Double, Double)
    case str(String)
    /// bytes (protocol >= 3), `_codecs.encode` results, bytearray.
    case bytes([UInt8])
    /// A Python 2 `str` (STRING / BINSTRING / SHORT_BINSTRING): raw bytes, usually decodable as UTF-8.
    case py2str([UInt8])
    case tuple(PyTuple)
    case list(PyList)
    case dict(PyDict)
    case set(PySet)
    /// A class, function or other global named by the pickle. Never resolved, never called.
    case global(PyGlobal)
    /// A call or instantiation of something outside the interpretation allowlist, recorded but never performed.
    case object(PyObject)
    /// A value given meaning by a higher layer (a tensor, a storage, a dtype...).
    case native(PyNative)
}

/// Values of higher layers (TorchFormats) that live inside the object graph.
public protocol PyNative: AnyObject {
    /// A short Python-like type name, e.g. `torch.Tensor`.
    var pythonTypeName: String { get }
}

/// A Python global: `module.name`, after the Python 2 → 3 name mapping.
public struct PyGlobal: Hashable, CustomStringConvertible, Sendable {
    public let module: String
    public let name: String
    public init(_ module: String, _ name: String) { self.module = module; self.name = name }
    public var description: String { "\(module).\(name)" }
}

/// An integer that does not fit in Int64 (LONG1 / LONG4 / LONG), kept as little-endian two's complement bytes.
public struct PyBigInt: Hashable, CustomStringConvertible {
    public let littleEndianBytes: [UInt8]
    public init(littleEndianBytes: [UInt8]) { self.littleEndianBytes = littleEndianBytes }

    public var isNegative: Bool { (littleEndianBytes.last ?? 0) & 0x80 != 0 }

    /// Decimal text; very long values are summarised (conversion is quadratic).
    public var description: String {
        if littleEndianBytes.count > 128 { return "<int of \(littleEndianBytes.count) bytes>" }
        var magnitude = littleEndianBytes
        let negative = isNegative
        if negative {  // two's complement negation
            var carry = 1
            for i in magnitude.indices {
                let v = Int(~magnitude[i]) + carry
                magnitude[i] = UInt8(v & 0xFF); carry = v >> 8
            }
        }
        // Repeated division by 10 on a big-endian copy.
        var digits: [UInt8] = []
        var be = Array(magnitude.reversed())
        while let first = be.firstIndex(where: { $0 != 0 }) {
            be.removeFirst(first)
            var remainder = 0
            for i in be.indices {
                let cur = remainder * 256 + Int(be[i])
                be[i] = UInt8(cur / 10); remainder = cur % 10
            }
            digits.append(UInt8(remainder) + 48)
        }
        if digits.isEmpty { digits = [48] }
        return (negative ? "-" : "") + String(decoding: digits.reversed(), as: UTF8.self)
    }
}

public final class PyTuple {
    public private(set) var items: [PyValue]
    public init(_ items: [PyValue]) { self.items = items }
    deinit { Graveyard.bury(&items) }
}

public final class PyList {
    public var items: [PyValue]
    public init(_ items: [PyValue] = []) { self.items = items }
    deinit { Graveyard.bury(&items) }
}

public final class PySet {
    public var items: [PyValue]
    public let frozen: Bool
    public init(_ items: [PyValue] = [], frozen: Bool = false) { self.items = items; self.frozen = frozen }
    deinit { Graveyard.bury(&items) }
}

/// An insertion-ordered dict (Python dicts and OrderedDict), plus the attributes a BUILD gave it
/// (`OrderedDict._metadata` of state dicts is an attribute, not an item: spec §4.5).
public final class PyDict {
    public private(set) var keys: [PyKey] = []
    public private(set) var values: [PyValue] = []
    private var index: [PyKey: Int] = [:]
    public var attributes: [String: PyValue] = [:]
    /// The class when this dict came from an allowlisted dict-like call (OrderedDict, defaultdict, Counter).
    public var pythonClass: PyGlobal?

    public init() {}

    public var count: Int { keys.count }

    public func set(_ key: PyKey, _ value: PyValue) {
        if let i = index[key] { values[i] = value } else { index[key] = keys.count; keys.append(key); values.append(value) }
    }
    public subscript(key: PyKey) -> PyValue? { index[key].map { values[$0] } }
    public subscript(string key: String) -> PyValue? { self[.str(key)] }
    public var entries: Zip2Sequence<[PyKey], [PyValue]> { zip(keys, values) }

    deinit {
        var attributeValues = Array(attributes.values)
        attributes = [:]
        Graveyard.bury(&attributeValues)
        Graveyard.bury(&values)
    }
}

/// How a placeholder came to be.
public enum PyCallKind: String, Sendable {
    case reduce, newobj, newobjEx = "newobj_ex", inst, obj, persistent
}

/// A call of a non-allowlisted callable: recorded, never performed (spec §9.2).
public final class PyObject {
    public private(set) var callee: PyValue
    public let kind: PyCallKind
    public private(set) var args: [PyValue]
    public private(set) var kwargs: PyDict?
    /// Every BUILD state, in order.
    public var states: [PyValue] = []
    /// APPEND / APPENDS on a list subclass.
    public var listItems: [PyValue] = []
    /// SETITEM(S) on a dict subclass.
    public let dictItems = PyDict()

    public init(callee: PyValue, kind: PyCallKind, args: [PyValue], kwargs: PyDict? = nil) {
        self.callee = callee; self.kind = kind; self.args = args; self.kwargs = kwargs
    }

    /// The class or function name, when the callee is a global.
    public var className: String {
        switch callee {
        case .global(let g): return g.description
        case .object(let o): return "\(o.className)(...)"
        default: return "<\(callee.typeName)>"
        }
    }

    /// Attributes set by BUILD with a dict state (or the dict half of a `(dict, slots)` state), last write wins.
    public var attributes: PyDict {
        let merged = PyDict()
        for state in states {
            var dicts: [PyDict] = []
            if case .dict(let d) = state { dicts.append(d) }
            if case .tuple(let t) = state { for item in t.items { if case .dict(let d) = item { dicts.append(d) } } }
            for d in dicts { for (k, v) in d.entries { merged.set(k, v) } }
        }
        return merged
    }

    deinit {
        // A chain of REDUCEs on REDUCE results nests placeholders through `callee`: release that iteratively too.
        var rest: [PyValue] = [callee]
        callee = .none
        if let kwargs { rest.append(.dict(kwargs)); self.kwargs = nil }
        Graveyard.bury(&rest)
        Graveyard.bury(&args)
        Graveyard.bury(&states)
        Graveyard.bury(&listItems)
    }
}

/// Releases object graphs iteratively. A 100 000-deep nest of lists (spec H13) would otherwise overflow the stack
/// when its last reference goes away, since each container's deinit would release the next one recursively.
enum Graveyard {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var pending: [PyValue] = []
    nonisolated(unsafe) private static var draining = false

    /// Takes the values out of `items` (leaving it empty) and releases them without recursion.
    static func bury(_ items: inout [PyValue]) {
        if items.isEmpty { return }
        lock.lock()
        pending.append(contentsOf: items)
        items = []
        if draining { lock.unlock(); return }
        draining = true
        lock.unlock()
        while true {
            lock.lock()
            guard let next = pending.popLast() else { draining = false; lock.unlock(); return }
            lock.unlock()
            _ = next  // the last reference to `next` dies here; its deinit buries its children instead of recursing
        }
    }
}

extension PyValue {
    /// A Python-like type name for messages.
    public var typeName: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int, .bigInt: return "int"
        case .float: return "float"
        case .complex: return "complex"
        case .str: return "str"
        case .bytes: return "bytes"
        case .py2str: return "str (py2)"
        case .tuple: return "tuple"
        case .list: return "list"
        case .dict(let d): return d.pythonClass?.description ?? "dict"
        case .set(let s): return s.frozen ? "frozenset" : "set"
        case .global(let g): return "global \(g)"
        case .object(let o): return o.className
        case .native(let n): return n.pythonTypeName
        }
    }
}
