// Converting inert pickle values to plain values for people and scripts: Namespace fields, paths, OmegaConf
// configs (following `_content` / `_val`, never `_parent`: spec §6.4), tensors as short descriptions.

import PickleVM

public enum PlainValues {
    public static let maxDepth = 24
    /// Most nodes produced for one value: shared references are expanded when printed, so a "billion laughs"
    /// pickle (spec H40) must not be (the VM itself keeps them shared).
    public static let maxNodes = 100_000

    public static func convert(_ v: PyValue) -> JSONValue {
        var converter = Converter()
        return converter.convert(v, depth: 0)
    }

    struct Converter {
        var visiting = Set<ObjectIdentifier>()
        var budget = PlainValues.maxNodes

        mutating func guarded(_ o: AnyObject, _ body: (inout Converter) -> JSONValue) -> JSONValue {
            let id = ObjectIdentifier(o)
            if visiting.contains(id) { return .string("<cycle>") }
            visiting.insert(id)
            defer { visiting.remove(id) }
            return body(&self)
        }

        mutating func convert(_ v: PyValue, depth: Int) -> JSONValue {
            budget -= 1
            if depth > PlainValues.maxDepth || budget < 0 { return .string("...") }
            switch v {
            case .none: return .null
            case .bool(let b): return .bool(b)
            case .int(let i): return .int(i)
            case .bigInt(let b): return .string(b.description)
            case .float(let d): return d.isFinite ? .double(d) : .string(PyFormat.float(d))
            case .complex(let re, let im): return .string("(\(PyFormat.float(re))+\(PyFormat.float(im))j)")
            case .str(let s): return .string(s)
            case .bytes(let b): return b.count <= 64 ? .string("b'" + PyFormat.escapedBytes(b) + "'") : .string("<\(b.count) bytes>")
            case .py2str(let b): return .string(String(decoding: b, as: UTF8.self))
            case .global(let g): return .string(g.description)
            case .tuple(let t): return guarded(t) { c in .array(t.items.map { c.convert($0, depth: depth + 1) }) }
            case .list(let l): return guarded(l) { c in .array(l.items.prefix(1000).map { c.convert($0, depth: depth + 1) }) }
            case .set(let s): return guarded(s) { c in .array(s.items.map { c.convert($0, depth: depth + 1) }) }
            case .dict(let d):
                return guarded(d) { c in .object(d.entries.prefix(1000).map { ($0.0.description, c.convert($0.1, depth: depth + 1)) }) }
            case .native(let n):
                if let t = n as? TensorRef { return .string("tensor(\(t.dtype.rawValue), \(t.shape))") }
                if let a = n as? NumpyArray {
                    if a.shape.isEmpty || a.shape.reduce(1, *) <= 16, let d = a.doubles() { return .array(d.map { .double($0) }) }
                    return .string("ndarray(\(a.dtype?.code ?? "?"), \(a.shape))")
                }
                return .string("<\(n.pythonTypeName)>")
            case .object(let o):
                return guarded(o) { c in c.object(o, depth: depth) }
            }
        }

        mutating func object(_ o: PyObject, depth: Int) -> JSONValue {
            let cls = o.className
            if let path = PlainValues.pathString(o) { return .string(path) }
            if cls.hasPrefix("omegaconf.") {
                let attrs = o.attributes
                if let content = attrs[string: "_content"] { return convert(content, depth: depth + 1) }
                if let val = attrs[string: "_val"] { return convert(val, depth: depth + 1) }
            }
            if cls == "argparse.Namespace" { return convert(.dict(o.attributes), depth: depth + 1) }
            if o.dictItems.count > 0 { return convert(.dict(o.dictItems), depth: depth + 1) }
            if !o.listItems.isEmpty { return .array(o.listItems.map { convert($0, depth: depth + 1) }) }
            var items: [(String, JSONValue)] = [("__class__", .string(cls))]
            let attrs = o.attributes
            if attrs.count > 0 {
                for (k, v) in attrs.entries.prefix(64) { items.append((k.description, convert(v, depth: depth + 1))) }
            } else if !o.args.isEmpty {
                items.append(("__args__", .array(o.args.prefix(16).map { convert($0, depth: depth + 1) })))
            }
            return .object(items)
        }
    }

    /// `pathlib` paths: parts joined (<= 3.12) or the single string (3.13 `pathlib._local`).
    public static func pathString(_ o: PyObject) -> String? {
        guard case .global(let g) = o.callee, g.module == "pathlib" || g.module == "pathlib._local",
              g.name.hasSuffix("Path") else { return nil }
        let parts = o.args.compactMap(\.stringValue)
        guard parts.count == o.args.count, !parts.isEmpty else { return nil }
        var out = ""
        for p in parts {
            if p.hasPrefix("/") || out.isEmpty { out = p } else { out += (out.hasSuffix("/") ? "" : "/") + p }
        }
        return out
    }
}
