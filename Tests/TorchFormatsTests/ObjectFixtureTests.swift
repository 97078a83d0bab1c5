// Non-tensor values (spec §6.2-6.4, P4-P8, P11): Namespaces, numpy scalars and arrays, paths, sets, bytes, complex,
// OmegaConf configs, torch.device / dtype / Size, checked against the typed descriptions the generator wrote.

import Foundation
import PickleVM
import TorchFormats
import XCTest

final class ObjectFixtureTests: XCTestCase {
    func testTypedObjectsDecodeExactly() throws {
        let manifest = try XCTUnwrap(try Fixtures.json(Fixtures.loader("positive.json")) as? [[String: Any]])
        var checked = 0
        for entry in manifest {
            guard let file = entry["file"] as? String, let expName = entry["expected"] as? String,
                  let exp = try Fixtures.json(Fixtures.loader(expName)) as? [String: Any],
                  let objects = exp["objects"] as? [String: Any] else { continue }
            let ckpt = try Checkpoint.open(path: Fixtures.loader(file))
            for (path, spec) in objects {
                guard let v = resolve(path, in: ckpt.root) else { XCTFail("\(file): \(path) not found"); continue }
                if let diff = check(v, spec as? [String: Any] ?? [:]) { XCTFail("\(file): \(path): \(diff)") }
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 25)
    }

    private func check(_ v: PyValue, _ spec: [String: Any]) -> String? {
        let type = spec["type"] as? String ?? "?"
        let value = spec["value"]
        switch type {
        case "none": if case .none = v { return nil }; return "expected None, got \(v.typeName)"
        case "int", "str", "float", "bool", "numpy_scalar", "torch.device":
            return compare(v, value ?? NSNull())
        case "torch.dtype":
            guard case .global(let g) = v, g.module == "torch" else { return "expected a torch dtype, got \(v.typeName)" }
            return g.name == value as? String ? nil : "dtype \(g.name) != \(value ?? "")"
        case "torch.Size":
            return v.sequenceItems?.compactMap(\.intValue).map(Int.init) == value as? [Int] ? nil : "size \(PlainValues.convert(v).render())"
        case "complex":
            guard case .complex(let re, let im) = v, let w = value as? [Double] else { return "expected complex, got \(v.typeName)" }
            return [re, im] == w ? nil : "complex \(re),\(im) != \(w)"
        case "bytes", "bytearray":
            guard case .bytes(let b) = v else { return "expected bytes, got \(v.typeName)" }
            let hex = b.map { String(format: "%02x", $0) }.joined()
            return hex == spec["hex"] as? String ? nil : "bytes \(hex)"
        case "path":
            guard case .object(let o) = v, let p = PlainValues.pathString(o) else { return "expected a path, got \(v.typeName)" }
            return p == value as? String ? nil : "path \(p)"
        case "tuple", "list", "set", "frozenset":
            guard let items = v.sequenceItems, let want = spec["items"] as? [[String: Any]] else { return "expected \(type), got \(v.typeName)" }
            guard items.count == want.count else { return "\(items.count) items, expected \(want.count)" }
            if type.hasSuffix("set") {  // unordered: every expected item must match some item
                for w in want where !items.contains(where: { check($0, w) == nil }) { return "set lacks \(w)" }
                return nil
            }
            for (i, w) in zip(items, want) { if let d = check(i, w) { return d } }
            return nil
        case "dict":
            guard case .dict(let d) = v, let pairs = spec["items"] as? [[Any]] else { return "expected dict, got \(v.typeName)" }
            guard d.count == pairs.count else { return "\(d.count) entries, expected \(pairs.count)" }
            for ((k, val), pair) in zip(d.entries, pairs) {
                if let e = check(k.value, pair[0] as? [String: Any] ?? [:]) { return "key: \(e)" }
                if let e = check(val, pair[1] as? [String: Any] ?? [:]) { return "value: \(e)" }
            }
            return nil
        case "object":
            guard case .object(let o) = v else { return "expected object, got \(v.typeName)" }
            if let cls = spec["class"] as? String, o.className != cls { return "class \(o.className) != \(cls)" }
            let attrs = o.attributes
            for (name, w) in spec["attributes"] as? [String: Any] ?? [:] {
                guard let a = attrs[string: name] else { return "attribute \(name) missing" }
                if let d = check(a, w as? [String: Any] ?? [:]) { return "\(name): \(d)" }
            }
            return nil
        case "omegaconf":
            let got = PlainValues.convert(v).render()
            let want = String(decoding: try! JSONSerialization.data(withJSONObject: value ?? [:], options: [.sortedKeys]), as: UTF8.self)
            return normalised(got) == normalised(want) ? nil : "config \(got) != \(want)"
        case "ndarray":
            guard case .native(let n) = v, let a = n as? NumpyArray else { return "expected ndarray, got \(v.typeName)" }
            if a.shape != spec["shape"] as? [Int] { return "shape \(a.shape)" }
            if let objs = a.objects, let want = spec["values"] as? [[String: Any]] {
                for (o, w) in zip(objs, want) { if let d = check(o, w) { return d } }
                return objs.count == want.count ? nil : "object count"
            }
            guard let got = a.doubles(), let want = spec["values"] as? [Double] else { return "values missing" }
            return got == want ? nil : "values \(got) != \(want)"
        default:
            return "unknown expectation type \(type)"
        }
    }

    /// Key order is not part of the comparison for configs.
    private func normalised(_ json: String) -> String {
        guard let obj = try? JSONSerialization.jsonObject(with: Data(json.utf8)),
              let d = try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]) else { return json }
        return String(decoding: d, as: UTF8.self)
    }
}
