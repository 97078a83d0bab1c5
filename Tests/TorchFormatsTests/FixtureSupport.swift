import Foundation
import TestSupport
import PickleVM
import TorchFormats
import XCTest

/// Paths of committed fixtures, found from this file's location (tests run from any directory).
enum Fixtures {
    static let root = PackagePaths.fixtures()

    static func loader(_ name: String) -> String { root.appendingPathComponent("loader").appendingPathComponent(name).path }

    static func json(_ path: String) throws -> Any {
        try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: path)), options: [.fragmentsAllowed])
    }
}

/// Resolves a contract-C2 path (`ns.gpu.1`) in an object graph; keys may themselves contain dots, so the longest
/// matching key wins at each step.
func resolve(_ path: String, in root: PyValue) -> PyValue? {
    var current = root
    var rest = Substring(path)
    while !rest.isEmpty {
        var children: [(String, PyValue)] = []
        switch current {
        case .dict(let d): children = d.entries.map { ($0.0.description, $0.1) }
        case .list(let l): children = l.items.enumerated().map { (String($0.offset), $0.element) }
        case .tuple(let t): children = t.items.enumerated().map { (String($0.offset), $0.element) }
        case .object(let o):
            children = o.dictItems.entries.map { ($0.0.description, $0.1) }
                + o.listItems.enumerated().map { (String($0.offset), $0.element) }
                + o.attributes.entries.map { ($0.0.description, $0.1) }
        default: return nil
        }
        let match = children.filter { rest == $0.0 || rest.hasPrefix($0.0 + ".") }.max { $0.0.count < $1.0.count }
        guard let (key, value) = match else { return nil }
        current = value
        rest = rest.dropFirst(key.count)
        if rest.hasPrefix(".") { rest = rest.dropFirst() }
    }
    return current
}

/// Compares a decoded value with its JSON expectation; returns a description of the difference, or nil.
func compare(_ v: PyValue, _ expected: Any) -> String? {
    switch (v, expected) {
    case (.none, is NSNull): return nil
    case (.bool(let b), let n as NSNumber): return b == n.boolValue ? nil : "bool \(b) != \(n)"
    case (.int(let i), let n as NSNumber): return Double(i) == n.doubleValue ? nil : "int \(i) != \(n)"
    case (.float(let d), let n as NSNumber): return d == n.doubleValue ? nil : "float \(d) != \(n)"
    case (.bigInt(let b), let s as String): return b.description == s ? nil : "bigint \(b) != \(s)"
    case (.int(let i), let s as String): return String(i) == s ? nil : "int \(i) != \(s)"
    case (_, let s as String):
        if let str = v.stringValue { return str == s ? nil : "str '\(str)' != '\(s)'" }
        return "\(v.typeName) is not the string '\(s)'"
    default: return "\(v.typeName) does not match \(expected)"
    }
}
