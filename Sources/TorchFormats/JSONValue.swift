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

extension JSONValue {
    /// Parses JSON text, keeping object keys in their order (what `render()` writes reads back equal).
    public static func parse(_ text: String) throws -> JSONValue {
        var parser = JSONParser(bytes: Array(text.utf8))
        let value = try parser.value(depth: 0)
        parser.skipSpace()
        guard parser.at == parser.bytes.count else { throw JSONParser.Failure(offset: parser.at) }
        return value
    }
}

private struct JSONParser {
    struct Failure: Error, CustomStringConvertible {
        let offset: Int
        var description: String { "invalid JSON at byte \(offset)" }
    }
    let bytes: [UInt8]
    var at = 0

    mutating func skipSpace() { while at < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[at]) { at += 1 } }

    mutating func expect(_ s: String) throws {
        for b in s.utf8 { guard at < bytes.count, bytes[at] == b else { throw Failure(offset: at) }; at += 1 }
    }

    mutating func value(depth: Int) throws -> JSONValue {
        guard depth < 512 else { throw Failure(offset: at) }
        skipSpace()
        guard at < bytes.count else { throw Failure(offset: at) }
        switch bytes[at] {
        case UInt8(ascii: "n"): try expect("null"); return .null
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "["):
            at += 1
            var items: [JSONValue] = []
            skipSpace()
            if at < bytes.count, bytes[at] == UInt8(ascii: "]") { at += 1; return .array(items) }
            while true {
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard at < bytes.count else { throw Failure(offset: at) }
                if bytes[at] == UInt8(ascii: "]") { at += 1; return .array(items) }
                try expect(",")
            }
        case UInt8(ascii: "{"):
            at += 1
            var items: [(String, JSONValue)] = []
            skipSpace()
            if at < bytes.count, bytes[at] == UInt8(ascii: "}") { at += 1; return .object(items) }
            while true {
                skipSpace()
                let key = try string()
                skipSpace()
                try expect(":")
                items.append((key, try value(depth: depth + 1)))
                skipSpace()
                guard at < bytes.count else { throw Failure(offset: at) }
                if bytes[at] == UInt8(ascii: "}") { at += 1; return .object(items) }
                try expect(",")
            }
        default:
            return try number()
        }
    }

    mutating func string() throws -> String {
        try expect("\"")
        var out: [UInt8] = []
        while at < bytes.count {
            let c = bytes[at]
            at += 1
            if c == UInt8(ascii: "\"") { return String(decoding: out, as: UTF8.self) }
            guard c == UInt8(ascii: "\\") else { out.append(c); continue }
            guard at < bytes.count else { break }
            let e = bytes[at]
            at += 1
            switch e {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"):
                guard at + 4 <= bytes.count, let code = UInt32(String(decoding: bytes[at..<(at + 4)], as: UTF8.self), radix: 16) else {
                    throw Failure(offset: at)
                }
                at += 4
                out += Array(String(Unicode.Scalar(code).map(Character.init) ?? "\u{FFFD}").utf8)
            default: out.append(e)
            }
        }
        throw Failure(offset: at)
    }

    mutating func number() throws -> JSONValue {
        let start = at
        while at < bytes.count, "+-0123456789.eE".utf8.contains(bytes[at]) { at += 1 }
        let text = String(decoding: bytes[start..<at], as: UTF8.self)
        if let i = Int64(text) { return .int(i) }
        if let d = Double(text) { return .double(d) }
        throw Failure(offset: start)
    }
}
