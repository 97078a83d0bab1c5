// The Table 1 checkpoints' pickled `args` Namespace (training arguments), as plain values.

import PickleVM

extension Checkpoint {
    /// The Table 1 `args` Namespace as plain values.
    public func namespaceArgs() -> [String: JSONValue]? {
        guard case .dict(let d) = root, case .object(let o) = d[string: "args"] ?? .none else { return nil }
        var out: [String: JSONValue] = [:]
        for (k, v) in o.attributes.entries { out[k.description] = PlainValues.convert(v) }
        return out
    }
}
