// Every positive loader fixture (spec §11.1-11.4) against the values torch.load produced for it (or, where torch
// itself is wrong, the values the spec prescribes): tensor names, dtypes, shapes, every value, SHA-256 fingerprints,
// and selected non-tensor values.

import Foundation
import PickleVM
import TorchFormats
import XCTest

final class PositiveFixtureTests: XCTestCase {
    struct Case { let file: String; let expected: [String: Any]; let ids: [String] }

    func cases() throws -> [Case] {
        let manifest = try XCTUnwrap(try Fixtures.json(Fixtures.loader("positive.json")) as? [[String: Any]])
        XCTAssertGreaterThan(manifest.count, 40, "the positive fixture list shrank")
        return try manifest.map { entry in
            let file = try XCTUnwrap(entry["file"] as? String)
            let exp = try XCTUnwrap(try Fixtures.json(Fixtures.loader(try XCTUnwrap(entry["expected"] as? String))) as? [String: Any])
            return Case(file: file, expected: exp, ids: entry["ids"] as? [String] ?? [])
        }
    }

    func testEveryPositiveFixtureLoadsWithExactValues() throws {
        var checkedValues = 0
        for c in try cases() {
            let ckpt: Checkpoint
            do { ckpt = try Checkpoint.open(path: Fixtures.loader(c.file)) } catch {
                XCTFail("\(c.file) (\(c.ids)): \(error)"); continue
            }
            if let format = c.expected["format"] as? String { XCTAssertEqual(ckpt.format.rawValue, format, c.file) }
            let tensors = ckpt.allTensors()
            let expectedTensors = c.expected["tensors"] as? [[String: Any]] ?? []
            XCTAssertEqual(tensors.map(\.name), expectedTensors.map { $0["name"] as? String ?? "?" }, "\(c.file): tensor names/order")
            for (exp, (name, t)) in zip(expectedTensors, tensors) {
                let label = "\(c.file):\(name)"
                XCTAssertEqual(t.dtype.rawValue, exp["dtype"] as? String, label)
                XCTAssertEqual(t.shape, exp["shape"] as? [Int], label)
                if let sha = exp["sha256"] as? String { XCTAssertEqual(try t.sha256(), sha, "\(label) sha256") }
                guard let values = exp["values"] as? [Any] else { continue }
                checkedValues += try checkValues(t, values, label)
            }
            for (path, expected) in c.expected["scalars"] as? [String: Any] ?? [:] {
                guard let v = resolve(path, in: ckpt.root) else { XCTFail("\(c.file): path \(path) not found"); continue }
                if let diff = compare(v, expected) { XCTFail("\(c.file): \(path): \(diff)") }
                checkedValues += 1
            }
        }
        XCTAssertGreaterThan(checkedValues, 300)
    }

    private func checkValues(_ t: TensorRef, _ values: [Any], _ label: String) throws -> Int {
        if t.dtype.isComplex {
            let got = try t.complexValues()
            let want = values.compactMap { $0 as? [Double] }
            XCTAssertEqual(got.count, want.count, label)
            for (g, w) in zip(got, want) where !(g.0 == w[0] && g.1 == w[1]) { XCTFail("\(label): \(g) != \(w)"); break }
            return got.count
        }
        if t.dtype.isFloatingPoint {
            let got = try t.doubles()
            XCTAssertEqual(got.count, values.count, label)
            // JSON parsing on Linux may be off by an ulp of float64; exactness is what the SHA-256 checks above prove.
            for (g, w) in zip(got, values) {
                let wd = (w as? NSNumber)?.doubleValue ?? ((w as? String).flatMap { Double($0) } ?? .nan)
                let close = g == wd || abs(g - wd) <= 1e-12 * max(abs(g), abs(wd)) || abs(g - wd) < 1e-300
                if !(close || (g.isNaN && wd.isNaN)) { XCTFail("\(label): \(g) != \(w)"); break }
            }
            return got.count
        }
        let got = try t.int64s()
        XCTAssertEqual(got.count, values.count, label)
        for (g, w) in zip(got, values) where Double(g) != (w as? NSNumber)?.doubleValue { XCTFail("\(label): \(g) != \(w)"); break }
        return got.count
    }

    func testSharedTensorsStayOneObject() throws {
        let ckpt = try Checkpoint.open(path: Fixtures.loader("shared.pt"))
        guard case .dict(let d) = ckpt.root else { return XCTFail("root is not a dict") }
        var refs: [ObjectIdentifier] = []
        func collect(_ v: PyValue) {
            switch v {
            case .native(let n): refs.append(ObjectIdentifier(n))
            case .list(let l): l.items.forEach(collect)
            case .tuple(let t): t.items.forEach(collect)
            default: break
            }
        }
        d.values.forEach(collect)
        XCTAssertGreaterThan(refs.count, 2)
        XCTAssertLessThan(Set(refs).count, refs.count, "a tensor saved under several keys must load as one object")
    }

    func testStateDictMetadataIsAnAttributeNotAKey() throws {
        let ckpt = try Checkpoint.open(path: Fixtures.loader("sd_small.pt"))
        let sd = try ckpt.stateDict()
        XCTAssertEqual(sd.names, ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked"])
        XCTAssertEqual(sd["1.num_batches_tracked"]?.dtype, .int64)
        XCTAssertEqual(sd["1.num_batches_tracked"]?.shape, [])
        guard case .dict(let d) = ckpt.root else { return XCTFail() }
        XCTAssertNotNil(d.attributes["_metadata"])
        XCTAssertNil(d[string: "_metadata"])
    }

    func testLegacyAndZipGiveTheSameStateDict() throws {
        let zip = try Checkpoint.open(path: Fixtures.loader("sd_small.pt")).stateDict()
        for other in ["sd_legacy.pt", "sd_legacy_proto4.pt", "sd_proto1.pt", "sd_proto3.pt", "sd_proto4.pt", "sd_proto5.pt"] {
            let sd = try Checkpoint.open(path: Fixtures.loader(other)).stateDict()
            XCTAssertEqual(sd.names, zip.names, other)
            for n in zip.names { XCTAssertEqual(try sd[n]!.sha256(), try zip[n]!.sha256(), "\(other):\(n)") }
        }
    }
}
