// Every tensor reachable from the pickle root, with a dotted path (contract C2 in the team notes; the same walk
// is implemented over torch.load results by tools/diff_inspect.py).

import PickleVM

extension Checkpoint {
    /// Depth-first, insertion order; each tensor object once (first path); cycles cut; iterative (no recursion).
    public func allTensors() -> [(name: String, tensor: TensorRef)] {
        TensorWalk.tensors(in: root)
    }
}

public enum TensorWalk {
    public static func tensors(in root: PyValue, prefix: String = "") -> [(name: String, tensor: TensorRef)] {
        var out: [(String, TensorRef)] = []
        var seen = Set<ObjectIdentifier>()
        var work: [(PyValue, String)] = [(root, prefix)]
        func join(_ p: String, _ c: String) -> String { p.isEmpty ? c : p + "." + c }
        while let (value, path) = work.popLast() {
            var children: [(PyValue, String)] = []
            switch value {
            case .native(let n):
                if let t = n as? TensorRef, seen.insert(ObjectIdentifier(t)).inserted { out.append((path, t)) }
                continue
            case .dict(let d):
                guard seen.insert(ObjectIdentifier(d)).inserted else { continue }
                children = d.entries.map { ($0.1, join(path, $0.0.description)) }
            case .list(let l):
                guard seen.insert(ObjectIdentifier(l)).inserted else { continue }
                children = l.items.enumerated().map { ($0.element, join(path, String($0.offset))) }
            case .tuple(let t):
                guard seen.insert(ObjectIdentifier(t)).inserted else { continue }
                children = t.items.enumerated().map { ($0.element, join(path, String($0.offset))) }
            case .object(let o):
                guard seen.insert(ObjectIdentifier(o)).inserted else { continue }
                // List items, then dict items, then BUILD attributes (the order tools/diff_inspect.py walks).
                children = o.listItems.enumerated().map { ($0.element, join(path, String($0.offset))) }
                    + o.dictItems.entries.map { ($0.1, join(path, $0.0.description)) }
                    + o.attributes.entries.map { ($0.1, join(path, $0.0.description)) }
            default:
                continue
            }
            work.append(contentsOf: children.reversed())
        }
        return out
    }
}
