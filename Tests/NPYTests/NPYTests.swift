import Foundation
import TestSupport
import NPY
import XCTest

let packageRoot = PackagePaths.root

let npyDir = packageRoot.appendingPathComponent("Fixtures/imaging/npy")

struct Expected: Decodable {
    var dtype: String
    var shape: [Int]
    var values: [JSONValue]
    var fortran_order: Bool?
}
struct Case: Decodable {
    var dtype: String?
    var shape: [Int]?
    var values: [JSONValue]?
    var members: [String: Expected]?
}
struct Manifest: Decodable { var cases: [String: Case] }

enum JSONValue: Decodable {
    case number(Double), string(String)
    init(from d: Decoder) throws {
        let c = try d.singleValueContainer()
        if let v = try? c.decode(Double.self) { self = .number(v) } else { self = .string(try c.decode(String.self)) }
    }
    var double: Double? {
        switch self {
        case .number(let v): return v
        case .string("inf"): return .infinity
        case .string("-inf"): return -.infinity
        case .string("nan"): return .nan
        default: return nil
        }
    }
    var string: String? { if case .string(let v) = self { return v }; return nil }
}

func tempDir() -> URL {
    let u = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("npytests-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    try? FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
    return u
}

final class NPYFixtureTests: XCTestCase {
    func manifest() throws -> Manifest {
        let data = try Data(contentsOf: npyDir.appendingPathComponent("manifest.json"))
        return try JSONDecoder().decode(Manifest.self, from: data)
    }

    /// Compares an array with the numpy-recorded dtype (byte order normalised), shape and values.
    func check(_ a: NPYArray, dtype: String, shape: [Int], values: [JSONValue], _ label: String) throws {
        XCTAssertEqual(a.shape, shape, label)
        let le = dtype.replacingOccurrences(of: ">", with: "<")
        XCTAssertEqual(a.dtype.descr, le == "<u1" ? "|u1" : le == "<b1" ? "|b1" : le, label)
        switch a.dtype {
        case .unicode, .bytes:
            XCTAssertEqual(try a.strings(), values.compactMap(\.string), label)
        case .float16, .float32, .float64:
            let d = try a.doubles()
            XCTAssertEqual(d.count, values.count, label)
            for (k, (x, e)) in zip(d, values).enumerated() {
                let ev = try XCTUnwrap(e.double, label)
                XCTAssertTrue(x == ev || (x.isNaN && ev.isNaN), "\(label)[\(k)]: \(x) != \(ev)")
                if ev == 0 { XCTAssertEqual(x.sign, ev.sign, "\(label)[\(k)] sign of zero") }
            }
            if a.dtype == .float32 {
                XCTAssertEqual(try a.floats(), d.map { Float($0) }, label)
            }
        default:
            XCTAssertEqual(try a.int64s(), values.map { Int64($0.double ?? .nan) }, label)
        }
    }

    func testEveryNumpyWrittenNpy() throws {
        let m = try manifest()
        var n = 0
        for (file, c) in m.cases where file.hasSuffix(".npy") {
            let a = try NPY.read(path: npyDir.appendingPathComponent(file).path)
            try check(a, dtype: c.dtype!, shape: c.shape!, values: c.values!, file)
            n += 1
        }
        XCTAssertGreaterThanOrEqual(n, 20)
    }

    func testNumpyWrittenNpz() throws {
        let m = try manifest()
        for (file, c) in m.cases where file.hasSuffix(".npz") {
            let path = npyDir.appendingPathComponent(file).path
            let z = try NPZ.read(path: path)
            XCTAssertEqual(Set(z.names), Set(c.members!.keys), file)
            for (name, e) in c.members! {
                try check(try z.array(name, file: path), dtype: e.dtype, shape: e.shape, values: e.values, "\(file)[\(name)]")
            }
            // In-memory variant and member filtering.
            let z2 = try NPZ.read(data: Data(contentsOf: URL(fileURLWithPath: path)), name: file, only: ["mu", "codes"])
            XCTAssertTrue(Set(z2.names).isSubset(of: ["mu", "codes"]))
            XCTAssertEqual(z2.names.count, 1, file)
        }
    }

    func testFortranTransposedToC() throws {
        let a = try NPY.read(path: npyDir.appendingPathComponent("fortran_i8_2x3x4.npy").path)
        XCTAssertEqual(try a.int64s(), (0..<24).map { Int64($0) })
        let b = try NPY.read(path: npyDir.appendingPathComponent("fortran_f4_2x3.npy").path)
        XCTAssertEqual(try b.floats(), [0, 1, 2, 3, 4, 5])
    }
}

final class NPYRoundTripTests: XCTestCase {
    func testRoundTripFiles() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let f: [Float] = [1.5, -0.0, .infinity, .greatestFiniteMagnitude, .leastNonzeroMagnitude, 0.1]
        try NPY.write(floats: f, shape: [2, 3], to: dir.appendingPathComponent("f.npy").path)
        let a = try NPY.read(path: dir.appendingPathComponent("f.npy").path)
        XCTAssertEqual(a.shape, [2, 3]); XCTAssertEqual(a.dtype, .float32)
        XCTAssertEqual(try a.floats().map(\.bitPattern), f.map(\.bitPattern))

        let d: [Double] = [Double.pi, -1e300, .leastNonzeroMagnitude]
        try NPY.write(doubles: d, shape: [3], to: dir.appendingPathComponent("d.npy").path)
        XCTAssertEqual(try NPY.read(path: dir.appendingPathComponent("d.npy").path).doubles(), d)

        let i: [Int64] = [Int64.min, -1, 0, Int64.max]
        try NPY.write(int64s: i, shape: [1, 2, 2], to: dir.appendingPathComponent("i.npy").path)
        let ia = try NPY.read(path: dir.appendingPathComponent("i.npy").path)
        XCTAssertEqual(ia.shape, [1, 2, 2]); XCTAssertEqual(try ia.int64s(), i)
        XCTAssertEqual(try ia.doubles(), i.map { Double($0) })
        XCTAssertThrowsError(try a.int64s()) { e in XCTAssertEqual((e as? NPYError)?.kind, .typeMismatch) }
    }

    func testHeaderLayoutMatchesNumpy() throws {
        // numpy 2.x: np.save of np.zeros((2,3), np.float32) starts with exactly these 128 header bytes.
        let bytes = [UInt8](try NPY.data(floats: [Float](repeating: 0, count: 6), shape: [2, 3]))
        let header = String(decoding: bytes[10..<128], as: UTF8.self)
        XCTAssertEqual(Array(bytes[0..<10]), [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, 118, 0])
        XCTAssertTrue(header.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"))
        XCTAssertTrue(header.hasSuffix(" \n"))
        XCTAssertEqual(bytes.count, 128 + 24)
        let one = [UInt8](try NPY.data(int64s: [7], shape: [1]))
        XCTAssertTrue(String(decoding: one[10...], as: UTF8.self).contains("'shape': (1,), }"))
        let scalar = [UInt8](try NPY.data(doubles: [2], shape: []))
        XCTAssertTrue(String(decoding: scalar[10...], as: UTF8.self).contains("'shape': (), }"))
        XCTAssertEqual(try NPY.read(data: Data(scalar)).doubles(), [2])
    }

    func testShapeMismatchOnWrite() {
        XCTAssertThrowsError(try NPY.data(floats: [1, 2, 3], shape: [2, 2])) { e in
            XCTAssertEqual((e as? NPYError)?.kind, .shapeMismatch)
        }
        let path = NSTemporaryDirectory() + "/npy-never-written-\(getpid()).npy"
        XCTAssertThrowsError(try NPY.write(doubles: [1], shape: [2], to: path)) { e in
            XCTAssertEqual("\(e)", path + ": 1 values for shape [2] (2 elements)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }

    func testNpzRoundTripBothMethods() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let mu = (0..<2048).map { Double($0) * 0.001 - 1 }
        let sigma = (0..<(64 * 64)).map { sin(Double($0)) }
        for compressed in [true, false] {
            let p = dir.appendingPathComponent("s\(compressed).npz").path
            try NPZ.write([("mu", try NPYArray(doubles: mu, shape: [2048])),
                           ("sigma", try NPYArray(doubles: sigma, shape: [64, 64])),
                           ("files", NPYArray(strings: ["a.png", "b/ü.png"]))], to: p, compressed: compressed)
            let z = try NPZ.read(path: p)
            XCTAssertEqual(z.names, ["mu", "sigma", "files"])
            XCTAssertEqual(try z.array("mu").doubles(), mu)
            XCTAssertEqual(try z.array("sigma").doubles(), sigma)
            XCTAssertEqual(try z.array("sigma").shape, [64, 64])
            XCTAssertEqual(try z.array("files").strings(), ["a.png", "b/ü.png"])
            XCTAssertThrowsError(try z.array("nope", file: p)) { e in
                XCTAssertEqual((e as? NPYError)?.kind, .missingEntry)
                XCTAssertTrue("\(e)".hasPrefix(p))
            }
            // No temporary files left behind.
            let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains("tmp") }
            XCTAssertEqual(left, [])
        }
        // Compressed is smaller for compressible data, and the output is deterministic.
        let a = try Data(contentsOf: dir.appendingPathComponent("strue.npz"))
        let b = try Data(contentsOf: dir.appendingPathComponent("sfalse.npz"))
        XCTAssertLessThan(a.count, b.count)
        let p2 = dir.appendingPathComponent("again.npz").path
        try NPZ.write([("mu", try NPYArray(doubles: mu, shape: [2048])),
                       ("sigma", try NPYArray(doubles: sigma, shape: [64, 64])),
                       ("files", NPYArray(strings: ["a.png", "b/ü.png"]))], to: p2)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: p2)), a)
    }

    func testManyDimensions() throws {
        let a = try NPYArray(shape: [Int](repeating: 1, count: 64), dtype: .float32, data: [0, 0, 128, 63])
        let bytes = NPY.encode(a)
        XCTAssertEqual(bytes[6], 1)
        XCTAssertEqual((bytes.count - 4) % 64, 0)
        XCTAssertEqual(try NPY.decode(bytes).floats(), [1])
        XCTAssertEqual(try NPY.decode(bytes).shape.count, 64)
        let b = try NPYArray(shape: [Int](repeating: 1, count: 65), dtype: .float32, data: [0, 0, 128, 63])
        XCTAssertThrowsError(try NPY.decode(NPY.encode(b)))
    }
}

final class NPYMalformedTests: XCTestCase {
    let good = [UInt8](try! NPY.data(floats: [1, 2, 3, 4, 5, 6], shape: [2, 3]))

    func header(_ dict: String, version: UInt8 = 1, data: [UInt8] = []) -> [UInt8] {
        var h = Array(dict.utf8)
        h.append(0x0A)
        var out: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, version, 0]
        if version == 1 { out += [UInt8(h.count & 0xff), UInt8(h.count >> 8)] }
        else { out += [UInt8(h.count & 0xff), UInt8(h.count >> 8), 0, 0] }
        return out + h + data
    }

    func expectError(_ bytes: [UInt8], _ kind: NPYError.Kind, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try NPY.decode(bytes, name: "x.npy"), label, file: file, line: line) { e in
            guard let e = e as? NPYError else { return XCTFail("not an NPYError: \(e)", file: file, line: line) }
            XCTAssertEqual(e.kind, kind, "\(label): \(e)", file: file, line: line)
            XCTAssertTrue(e.description.hasPrefix("x.npy: "), file: file, line: line)
            XCTAssertFalse(e.description.contains("\n"), file: file, line: line)
        }
    }

    func testTruncationAtEveryLength() {
        for n in 0..<good.count {
            XCTAssertThrowsError(try NPY.decode(Array(good[0..<n]), name: "t.npy"), "prefix \(n)")
        }
        expectError(Array(good.dropLast()), .truncated, "one byte short")
        expectError(good + [0], .trailingData, "one byte extra")
    }

    func testMalformedHeaders() {
        let d = [UInt8](repeating: 0, count: 24)
        expectError([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x5A, 1, 0, 0, 0], .badMagic, "magic")
        expectError(header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", version: 4, data: d), .badHeader, "version")
        expectError(header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", data: d), .badHeader, "extra key")
        expectError(header("{'descr': '<f4', 'shape': (2, 3), }", data: d), .badHeader, "missing key")
        expectError(header("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}", data: d), .badHeader, "dup key")
        expectError(header("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2, 3), }", data: d), .badHeader, "bool")
        expectError(header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", data: d), .badHeader, "negative")
        expectError(header("{'descr': '<f4', 'fortran_order': False, 'shape': (6), }", data: d), .badHeader, "(6) is not a tuple")
        expectError(header("{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3], }", data: d), .badHeader, "list shape")
        expectError(header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } junk", data: d), .badHeader, "junk")
        expectError(header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), ", data: d), .badHeader, "unterminated")
        expectError(header("{'descr': '<c8', 'fortran_order': False, 'shape': (3,), }", data: d), .unsupportedDType, "complex")
        expectError(header("{'descr': '|O', 'fortran_order': False, 'shape': (3,), }", data: d), .unsupportedDType, "object")
        expectError(header("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,), }", data: d), .unsupportedDType, "structured")
        expectError(header("{'descr': '__import__(\"os\")', 'fortran_order': False, 'shape': (6,), }", data: d), .unsupportedDType, "code")
        // Shape products that overflow, or claim far more than the file holds: an error, not an allocation.
        expectError(header("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", data: d), .overflow, "overflow")
        expectError(header("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,), }", data: d), .overflow, "huge int")
        expectError(header("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }", data: d), .truncated, "claims 8 TB")
        // Header length field larger than the cap.
        expectError([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 2, 0, 0, 0, 0, 0x7f] + d, .badHeader, "header too long")
        // Accepted variants: double quotes, Python-2 longs, no trailing comma, `=` byte order.
        XCTAssertNoThrow(try NPY.decode(header("{\"descr\": \"=f4\", \"fortran_order\": True, \"shape\": (2L, 3L)}", data: d)))
    }

    func testNpzCorruption() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let src = try Data(contentsOf: npyDir.appendingPathComponent("stats_compressed.npz"))
        // Every truncation fails cleanly.
        for n in stride(from: 0, to: src.count, by: 7) {
            XCTAssertThrowsError(try NPZ.read(data: src.prefix(n), name: "cut.npz"), "prefix \(n)")
        }
        // Flipping bytes anywhere never crashes (it may or may not be detected, e.g. in a name).
        var detected = 0
        for k in stride(from: 0, to: src.count, by: 3) {
            var b = [UInt8](src)
            b[k] ^= 0x55
            do { _ = try NPZ.read(data: Data(b), name: "flip.npz") } catch { detected += 1 }
        }
        XCTAssertGreaterThan(detected, src.count / 3 / 2)
        // Deflated members inflate in one buffer (libdeflate): a member whose declared size is larger or smaller
        // than what it inflates to, or whose data no longer matches its CRC, is refused, read from memory or from
        // a file (mapped).
        func le32(_ b: [UInt8], _ at: Int) -> Int { Int(b[at]) | Int(b[at + 1]) << 8 | Int(b[at + 2]) << 16 | Int(b[at + 3]) << 24 }
        func put32(_ b: inout [UInt8], _ at: Int, _ v: Int) { for i in 0..<4 { b[at + i] = UInt8((v >> (8 * i)) & 0xff) } }
        let bytes = [UInt8](src)
        let locals = (0..<(bytes.count - 4)).filter { le32(bytes, $0) == 0x0403_4b50 }
        let centrals = (0..<(bytes.count - 4)).filter { le32(bytes, $0) == 0x0201_4b50 }
        XCTAssertEqual(locals.count, centrals.count)
        XCTAssertGreaterThan(locals.count, 0)
        XCTAssertEqual(bytes[locals[0] + 8], 8, "first member deflated")
        for delta in [-1, 1, 4096] {
            var b = bytes
            for l in locals.prefix(1) { put32(&b, l + 22, le32(b, l + 22) + delta) }
            for c in centrals.prefix(1) { put32(&b, c + 24, le32(b, c + 24) + delta) }
            XCTAssertThrowsError(try NPZ.read(data: Data(b), name: "size.npz"), "declared size \(delta)")
            let file = dir.appendingPathComponent("size\(delta).npz")
            try Data(b).write(to: file)
            XCTAssertThrowsError(try NPZ.read(path: file.path), "declared size \(delta), from a file")
        }
        do {
            var b = bytes
            put32(&b, locals[0] + 14, le32(b, locals[0] + 14) ^ 1)
            put32(&b, centrals[0] + 16, le32(b, centrals[0] + 16) ^ 1)
            XCTAssertThrowsError(try NPZ.read(data: Data(b), name: "crc.npz")) { e in XCTAssertTrue("\(e)".contains("CRC"), "\(e)") }
        }
        XCTAssertThrowsError(try NPZ.read(path: dir.appendingPathComponent("missing.npz").path)) { e in
            XCTAssertTrue("\(e)".contains("missing.npz"))
        }
        XCTAssertThrowsError(try NPY.read(path: dir.appendingPathComponent("missing.npy").path)) { e in
            XCTAssertEqual("\(e)", dir.appendingPathComponent("missing.npy").path + ": no such file")
        }
    }
}
