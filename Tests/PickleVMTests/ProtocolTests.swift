// The same rich object pickled by CPython in protocols 0 to 5 decodes to the same values.

import Foundation
import TestSupport
import PickleVM
import XCTest

final class ProtocolTests: XCTestCase {
    static let fixtures = PackagePaths.fixtures("pickle")

    func load(_ p: Int) throws -> PickleResult {
        let data = try Data(contentsOf: ProtocolTests.fixtures.appendingPathComponent("rich_p\(p).pkl"))
        return try Unpickler.load(Array(data))
    }

    func testEveryProtocolDecodesTheSameValues() throws {
        for p in 0...5 {
            let r = try load(p)
            XCTAssertEqual(r.protocolVersion, p >= 2 ? p : nil, "protocol \(p)")
            let d = try XCTUnwrap(r.value.dictValue, "protocol \(p)")
            let ints = try XCTUnwrap(d[string: "i"]?.sequenceItems).map { v -> String in
                switch v { case .int(let i): return String(i); case .bigInt(let b): return b.description; default: return "?" }
            }
            XCTAssertEqual(ints, ["0", "1", "-1", "255", "256", "65535", "65536", "2147483647", "2147483648", "-2147483649",
                                  "9223372036854775807", "1180591620717411303424", "-1180591620717411303424"], "protocol \(p)")
            XCTAssertEqual(d[string: "f"]?.sequenceItems?.compactMap(\.doubleValue), [0.1, -2.5, 1e300, .infinity], "protocol \(p)")
            XCTAssertEqual(d[string: "s"]?.sequenceItems?.compactMap(\.stringValue), ["", "abc", "h\u{e9}llo \u{2713}", String(repeating: "x", count: 300)], "protocol \(p)")
            guard case .bytes(let b) = d[string: "b"] ?? .none else { XCTFail("bytes, protocol \(p)"); continue }
            XCTAssertEqual(b, [0, 255, 97, 98])
            guard case .bytes(let ba) = d[string: "ba"] ?? .none else { XCTFail("bytearray, protocol \(p)"); continue }
            XCTAssertEqual(ba, [120, 121])
            let t = try XCTUnwrap(d[string: "t"]?.sequenceItems)
            XCTAssertEqual(t.count, 3)
            XCTAssertEqual(t[1].sequenceItems?.compactMap(\.intValue), [2, 3])
            XCTAssertEqual(t[2].sequenceItems?.count, 0)
            if case .none = d[string: "n"] ?? .int(0) {} else { XCTFail("None, protocol \(p)") }
            XCTAssertEqual(d[string: "bool"]?.sequenceItems?.map { if case .bool(let x) = $0 { return x ? 1 : 0 }; return -1 }, [1, 0])
            guard case .set(let s) = d[string: "set"] ?? .none, !s.frozen else { XCTFail("set, protocol \(p)"); continue }
            XCTAssertEqual(Set(s.items.compactMap(\.intValue)), [1, 2])
            guard case .set(let fs) = d[string: "fs"] ?? .none, fs.frozen else { XCTFail("frozenset, protocol \(p)"); continue }
            XCTAssertEqual(fs.items.compactMap(\.intValue), [3])
            let od = try XCTUnwrap(d[string: "od"]?.dictValue)
            XCTAssertEqual(od.keys.map(\.description), ["a", "b"])
            XCTAssertEqual(od.pythonClass?.description, "collections.OrderedDict")
            let inner = try XCTUnwrap(d[string: "nested"]?.dictValue?[string: "k"]?.dictValue)
            XCTAssertEqual(inner[.int(1)]?.stringValue, "one")
            XCTAssertEqual(inner[.tuple([.int(1), .int(2)])]?.stringValue, "tuple")
            guard case .complex(let re, let im) = d[string: "c"] ?? .none else { XCTFail("complex, protocol \(p)"); continue }
            XCTAssertEqual([re, im], [1, 2])
            // Memo references alias: both entries are the same list object.
            let shared = try XCTUnwrap(d[string: "shared"]?.sequenceItems)
            guard case .list(let a) = shared[0], case .list(let b2) = shared[1] else { XCTFail("shared, protocol \(p)"); continue }
            XCTAssertTrue(a === b2, "memo must alias, protocol \(p)")
            XCTAssertEqual(d.keys.count, 14)
        }
    }
}
