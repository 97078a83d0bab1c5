// A plain value tree for reports and `--json` output, with deterministic rendering.

import Foundation

public indirect enum JSONValue: Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    /// Keys keep their insertion order.
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool { a.render() == b.render() }

    public subscript(key: String) -> JSONValue? {
        if case .object(let items) = self { return items.first { $0.0 == key }?.1 }
        return nil
    }

    public func render(pretty: Bool = false, indent: String = "") -> String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d):
            if d.isNaN || d.isInfinite { return "null" }  // JSON has no NaN; callers put text in a string instead
            if d == d.rounded(), abs(d) < 1e15 { return String(format: "%.1f", d) }
            return "\(d)"
        case .string(let s): return JSONValue.quote(s)
        case .array(let items):
            if items.isEmpty { return "[]" }
            if !pretty || items.allSatisfy({ $0.isScalar }) {
                return "[" + items.map { $0.render() }.joined(separator: pretty ? ", " : ",") + "]"
            }
            let inner = indent + "  "
            return "[\n" + items.map { inner + $0.render(pretty: true, indent: inner) }.joined(separator: ",\n") + "\n\(indent)]"
        case .object(let items):
            if items.isEmpty { return "{}" }
            if !pretty { return "{" + items.map { JSONValue.quote($0.0) + ":" + $0.1.render() }.joined(separator: ",") + "}" }
            let inner = indent + "  "
            return "{\n" + items.map { inner + JSONValue.quote($0.0) + ": " + $0.1.render(pretty: true, indent: inner) }
                .joined(separator: ",\n") + "\n\(indent)}"
        }
    }

    var isScalar: Bool {
        switch self { case .array, .object: return false; default: return true }
    }

    public static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}
