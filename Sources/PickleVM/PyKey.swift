// Dict keys: the hashable Python values that really occur as keys in checkpoints (spec §9.2).

/// A hashable dict key. Python's `1 == True` aliasing is not reproduced: checkpoints do not mix them.
public indirect enum PyKey: Hashable, CustomStringConvertible {
    case none
    case bool(Bool)
    case int(Int64)
    case bigInt(PyBigInt)
    case float(UInt64)  // bit pattern, so that NaN keys stay hashable
    case str(String)
    case bytes([UInt8])
    case tuple([PyKey])
    case frozenSet([PyKey])
    /// A class or function used as a key (old Lightning keyed callbacks by class: spec P11).
    case global(PyGlobal)
    /// Objects hash by identity in Python.
    case identity(ObjectIdentifier, String)

    /// Deepest tuple nesting accepted in a key; deeper keys are an error rather than a deep recursion.
    static let maxDepth = 32

    public init(_ value: PyValue, depth: Int = 0) throws {
        guard depth < PyKey.maxDepth else { throw PickleError.unhashableKey("tuple nested deeper than \(PyKey.maxDepth)") }
        switch value {
        case .none: self = .none
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(i)
        case .bigInt(let b): self = .bigInt(b)
        case .float(let d): self = .float(d.bitPattern)
        case .str(let s): self = .str(s)
        case .bytes(let b): self = .bytes(b)
        case .py2str(let b): self = String(validating: b, as: UTF8.self).map { .str($0) } ?? .bytes(b)
        case .tuple(let t): self = .tuple(try t.items.map { try PyKey($0, depth: depth + 1) })
        case .set(let s) where s.frozen: self = .frozenSet(try s.items.map { try PyKey($0, depth: depth + 1) })
        case .global(let g): self = .global(g)
        case .object(let o): self = .identity(ObjectIdentifier(o), o.className)
        case .native(let n): self = .identity(ObjectIdentifier(n), n.pythonTypeName)
        case .complex, .list, .dict, .set:
            throw PickleError.unhashableKey(value.typeName)
        }
    }

    /// The key as Python's `str(key)` would print it (used for tensor paths).
    public var description: String {
        switch self {
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .bigInt(let b): return b.description
        case .float(let bits): return PyFormat.float(Double(bitPattern: bits))
        case .str(let s): return s
        case .bytes(let b): return "b'" + PyFormat.escapedBytes(b) + "'"
        case .tuple(let items):
            if items.count == 1 { return "(\(items[0].reprDescription),)" }
            return "(" + items.map(\.reprDescription).joined(separator: ", ") + ")"
        case .frozenSet(let items): return "frozenset({" + items.map(\.reprDescription).joined(separator: ", ") + "})"
        case .global(let g): return g.description
        case .identity(_, let name): return "<\(name) object>"
        }
    }

    /// `repr(key)`: strings quoted.
    public var reprDescription: String {
        if case .str(let s) = self { return "'" + s + "'" }
        return description
    }

    /// The key back as a value.
    public var value: PyValue {
        switch self {
        case .none: return .none
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .bigInt(let b): return .bigInt(b)
        case .float(let bits): return .float(Double(bitPattern: bits))
        case .str(let s): return .str(s)
        case .bytes(let b): return .bytes(b)
        case .tuple(let items): return .tuple(PyTuple(items.map(\.value)))
        case .frozenSet(let items): return .set(PySet(items.map(\.value), frozen: true))
        case .global(let g): return .global(g)
        case .identity(_, let name): return .str("<\(name) object>")
        }
    }
}

/// Python-style formatting of scalars.
public enum PyFormat {
    /// `repr(float)`: shortest round-trip digits, `.0` for integral values, `inf` / `nan`.
    public static func float(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        var s = "\(d)"
        if s.hasSuffix(".0") == false, !s.contains("."), !s.contains("e") { s += ".0" }
        return s
    }

    public static func escapedBytes(_ bytes: [UInt8]) -> String {
        var out = ""
        for b in bytes {
            switch b {
            case 0x5C: out += "\\\\"
            case 0x27: out += "\\'"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x20..<0x7F: out.append(Character(Unicode.Scalar(b)))
            default: out += "\\x" + String(format2Hex: b)
            }
        }
        return out
    }
}

extension String {
    init(format2Hex b: UInt8) {
        let digits = Array("0123456789abcdef")
        self = String([digits[Int(b >> 4)], digits[Int(b & 15)]])
    }
}
