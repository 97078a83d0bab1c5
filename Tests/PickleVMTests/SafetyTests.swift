// Hand-assembled pickles: malformed input ends in a clear error, pathological input in bounded work, and nothing
// is ever executed (the VM has no way to: these tests pin down the inert results).

import Foundation
import PickleVM
import XCTest

final class SafetyTests: XCTestCase {
    private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
    private func load(_ b: [UInt8], strict: Bool = false) throws -> PickleResult {
        var o = UnpicklerOptions()
        o.strict = strict
        return try Unpickler.load(b, options: o)
    }
    private func assertError(_ b: [UInt8], contains text: String, strict: Bool = false, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try load(b, strict: strict), file: file, line: line) { e in
            XCTAssertTrue("\(e)".contains(text), "\(e) should mention '\(text)'", file: file, line: line)
        }
    }

    func testCodeExecutionPicklesStayInertPlaceholders() throws {
        let canary = "/tmp/vqrt_canary_pickle_vm_test"
        try? FileManager.default.removeItem(atPath: canary)
        // os.system('touch canary') via GLOBAL + REDUCE; eval via STACK_GLOBAL; INST and OBJ forms.
        let reduce: [UInt8] = [0x80, 0x02] + bytes("cos\nsystem\nX") + le32(("touch " + canary).utf8.count) + bytes("touch " + canary) + [0x85] + bytes("R.")
        let r = try load(reduce)
        guard case .object(let o) = r.value else { return XCTFail("expected a placeholder") }
        XCTAssertEqual(o.className, "os.system")
        XCTAssertEqual(o.args.first?.stringValue, "touch " + canary)
        let stackGlobal: [UInt8] = [0x80, 0x04, 0x8C, 8] + bytes("builtins") + [0x8C, 4] + bytes("eval") + [0x93, 0x8C, 2] + bytes("1+") + [0x85] + bytes("R.")
        XCTAssertEqual(try load(stackGlobal).value.objectValue?.className, "builtins.eval")
        XCTAssertEqual(try load(bytes("(S'ls'\nisubprocess\nPopen\n.")).value.objectValue?.className, "subprocess.Popen")
        XCTAssertEqual(try load(bytes("(cposix\nsystem\nS'id'\no.")).value.objectValue?.className, "posix.system")
        assertError(reduce, contains: "os.system", strict: true)
        XCTAssertFalse(FileManager.default.fileExists(atPath: canary))
    }

    func testMalformedInputIsAClearError() {
        assertError([0x80, 0x02, 0x52, 0x2E], contains: "underflow")              // REDUCE on an empty stack
        assertError([0x80, 0x02, 0x68, 0x05, 0x2E], contains: "memo entry 5")     // BINGET of a missing entry
        assertError([0x80, 0x06, 0x4E, 0x2E], contains: "protocol 6")
        assertError([0x80, 0x02, 0x4E], contains: "without STOP")
        assertError([0xFF, 0x2E], contains: "unknown pickle opcode 0xff")
        assertError(bytes("]K\u{01}K\u{02}s."), contains: "SETITEM on list")
        assertError(bytes("}K\u{01}a."), contains: "APPEND on dict")
        assertError(bytes(")}b."), contains: "BUILD on tuple")
        assertError([0x80, 0x04, 0x8D] + [UInt8](repeating: 0xFF, count: 8) + [0x2E], contains: "truncated")  // BINUNICODE8 near 2^64
        assertError([0x80, 0x04, 0x8E] + [0xF0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F] + [0x2E], contains: "truncated")
        assertError([0x80, 0x02, 0x8B, 0xFF, 0xFF, 0xFF, 0x7F, 0x2E], contains: "LONG4")
        assertError([0x80, 0x04, 0x4B, 1, 0x4B, 2, 0x93, 0x2E], contains: "STACK_GLOBAL needs two str")
        assertError(bytes("c") + [0xF8] + bytes("\nx\n."), contains: "not a valid UTF-8 name")
        assertError([0x80, 0x02, 0x82, 0x01, 0x2E], contains: "EXT1")
        assertError(bytes("P1\n."), contains: "storages")
    }

    func testLenientWhereCPythonIsLenientStrictOtherwise() throws {
        let unclosed = bytes("(K\u{01}.")
        let r = try load(unclosed)
        XCTAssertEqual(r.value.intValue, 1)
        XCTAssertFalse(r.warnings.isEmpty)
        assertError(unclosed, contains: "left on the stack", strict: true)
        // A huge memo index is a dictionary entry, not an allocation.
        let huge = try load([0x80, 0x02, 0x4E, 0x72, 0xFF, 0xFF, 0xFF, 0xFF, 0x30, 0x6A, 0xFF, 0xFF, 0xFF, 0xFF, 0x2E])
        if case .none = huge.value {} else { XCTFail("LONG_BINPUT 0xFFFFFFFF round trip") }
    }

    func testDeepNestingLoadsAndReleasesWithoutOverflow() throws {
        let depth = 100_000
        let lists: [UInt8] = [0x80, 0x02] + [UInt8](repeating: 0x5D, count: depth) + [UInt8](repeating: 0x61, count: depth - 1) + [0x2E]
        var r: PickleResult? = try load(lists)
        var d = 0
        var v = r!.value
        while case .list(let l) = v, let first = l.items.first { v = first; d += 1 }
        XCTAssertEqual(d, depth - 1)
        v = .none
        r = nil  // the graph is released iteratively; a recursive release would overflow the stack here
        let tuples: [UInt8] = [0x80, 0x02, 0x4E] + [UInt8](repeating: 0x85, count: 1_000_000) + [0x2E]
        _ = try load(tuples)
    }

    func testSelfReferenceAndSharingStayShared() throws {
        let r = try load(bytes("]q\u{00}h\u{00}a."))
        guard case .list(let l) = r.value, case .list(let inner) = l.items.first ?? .none else { return XCTFail() }
        XCTAssertTrue(l === inner)
        // "Billion laughs": 40 doublings by DUP + TUPLE2 are 40 objects, not 2^40: at every level both halves are
        // the same object (a copy at any level would double the work and memory of every level above it).
        let laughs: [UInt8] = [0x80, 0x02, 0x5D] + Array(repeating: [UInt8]([0x32, 0x86]), count: 40).flatMap { $0 } + [0x2E]
        var level = try load(laughs).value, levels = 0
        while case .tuple(let t) = level {
            XCTAssertEqual(t.items.count, 2)
            switch (t.items.first, t.items.last) {
            case (.tuple(let a)?, .tuple(let b)?): XCTAssertTrue(a === b, "level \(levels): the two halves are copies")
            case (.list(let a)?, .list(let b)?): XCTAssertTrue(a === b, "level \(levels): the two halves are copies")
            default: XCTFail("level \(levels): \(t.items.map(\.typeName))")
            }
            level = t.items[0]
            levels += 1
        }
        XCTAssertEqual(levels, 40)
    }

    func testTextOpcodesOfProtocolZero() throws {
        let r = try load(bytes("(dp0\nS'a'\np1\nI01\nsS'b'\np2\nL123456789012345678901234567890L\nsS'c'\nF1.5\nsVh\\u00e9\np3\ng1\ns."))
        let d = try XCTUnwrap(r.value.dictValue)
        if case .bool(true) = d[string: "a"] ?? .none {} else { XCTFail("I01 is True") }
        guard case .bigInt(let b) = d[string: "b"] ?? .none else { return XCTFail("LONG") }
        XCTAssertEqual(b.description, "123456789012345678901234567890")
        XCTAssertEqual(d[string: "c"]?.doubleValue, 1.5)
        XCTAssertEqual(d[string: "h\u{e9}"]?.stringValue, "a")
    }

    private func le32(_ n: Int) -> [UInt8] { (0..<4).map { UInt8((n >> (8 * $0)) & 0xFF) } }
}
