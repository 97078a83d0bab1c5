// Finding the model weights inside whatever container holds them (spec §10 item 6): plain state dicts,
// `{'model': ...}` with DataParallel `module.` prefixes, Lightning `{'state_dict': ...}`, full latent-diffusion
// checkpoints (`first_stage_model.`), with training-only weights (`loss.*`) and optimizer state set aside.

import PickleVM

public struct StateDict {
    /// Tensor names in checkpoint order, after prefix stripping.
    public let names: [String]
    public let tensors: [String: TensorRef]
    /// Where the weights were found: `<root>`, `state_dict`, `model`...
    public let source: String
    /// The prefix removed from every name (`module.`, `first_stage_model.`), if any.
    public let prefixStripped: String?
    /// Human-readable notes on what was not taken as model weights.
    public let setAside: [String]

    public subscript(name: String) -> TensorRef? { tensors[name] }
    public var count: Int { names.count }
    public var parameterCount: Int { names.reduce(0) { $0 + (tensors[$1]?.numel ?? 0) } }

    public func dtypeCounts() -> [(String, Int)] {
        var counts: [String: Int] = [:]
        for n in names { counts[tensors[n]!.dtype.rawValue, default: 0] += 1 }
        return counts.sorted { $0.key < $1.key }
    }
}

extension Checkpoint {
    /// Keys that conventionally hold model weights, in the order they are tried.
    static let weightKeys = ["state_dict", "model_state_dict", "model", "module", "net", "ema", "model_ema", "params",
                             "generator", "weights"]

    /// The model weights. `preferring`: keys to try before the generic ones, in order (a family's own evaluation
    /// order, e.g. LlamaGen's `ema`, `model`, `state_dict`).
    public func stateDict(preferring: [String] = []) throws -> StateDict {
        guard case .dict(let rootDict) = root else {
            throw CheckpointError.noStateDict("\(path): the checkpoint root is \(root.typeName), not a dict")
        }
        var source = "<root>"
        var chosen: PyDict?
        if tensorShare(rootDict) >= 0.5 {
            chosen = rootDict
        } else {
            for k in preferring + Checkpoint.weightKeys.filter({ !preferring.contains($0) }) {
                if case .dict(let d) = rootDict[string: k] ?? .none, tensorCount(d) > 0 { chosen = d; source = k; break }
                if case .object(let o) = rootDict[string: k] ?? .none, tensorCount(o.dictItems) > 0 { chosen = o.dictItems; source = k; break }
            }
        }
        guard let chosen else {
            let keys = rootDict.keys.prefix(12).map(\.description).joined(separator: ", ")
            throw CheckpointError.noStateDict("\(path): no dict of tensors at the root or under \(Checkpoint.weightKeys.joined(separator: "/")) (root keys: \(keys))")
        }
        var names: [String] = []
        var tensors: [String: TensorRef] = [:]
        var skippedValues = 0
        for (name, value) in flatten(chosen) {
            if case .native(let n) = value, let t = n as? TensorRef, t.hasData || t.numel == 0 {
                if tensors[name] == nil { names.append(name) }
                tensors[name] = t
            } else {
                skippedValues += 1
            }
        }
        var setAside: [String] = []
        if skippedValues > 0 { setAside.append("\(skippedValues) non-tensor value(s) inside the state dict") }
        // Full latent-diffusion checkpoints: the first stage alone is the VQ model.
        var prefix: String?
        let firstStage = names.filter { $0.hasPrefix("first_stage_model.") }
        if !firstStage.isEmpty, firstStage.count < names.count {
            setAside.append("\(names.count - firstStage.count) tensors outside first_stage_model.* (diffusion model, conditioning)")
            names = firstStage
        }
        for p in ["first_stage_model.", "module."] where !names.isEmpty && names.allSatisfy({ $0.hasPrefix(p) }) {
            prefix = (prefix ?? "") + p
            // Only the kept names carry over (the first-stage filter above dropped the rest).
            var renamed: [String: TensorRef] = [:]
            names = names.map { n in let s = String(n.dropFirst(p.count)); renamed[s] = tensors[n]; return s }
            tensors = renamed
        }
        // Training-only weights (discriminator, LPIPS) never take part in inference.
        let loss = names.filter { $0.hasPrefix("loss.") }
        if !loss.isEmpty {
            setAside.append("\(loss.count) training-only tensors (loss.*)")
            names.removeAll { $0.hasPrefix("loss.") }
            for n in loss { tensors[n] = nil }
        }
        for (k, v) in rootDict.entries where k.description != source && source != "<root>" {
            let n = TensorWalk.tensors(in: v).count
            if n > 0 { setAside.append("\(k.description): \(n) tensors (not model weights)") }
        }
        return StateDict(names: names, tensors: tensors, source: source, prefixStripped: prefix, setAside: setAside)
    }

    private func tensorCount(_ d: PyDict) -> Int {
        d.values.reduce(0) { n, v in
            if case .native(let x) = v, x is TensorRef { return n + 1 }
            if case .dict(let inner) = v { return n + (tensorCount(inner) > 0 ? 1 : 0) }
            return n
        }
    }

    private func tensorShare(_ d: PyDict) -> Double {
        d.count == 0 ? 0 : Double(d.values.filter { if case .native(let x) = $0, x is TensorRef { return true }; return false }.count) / Double(d.count)
    }

    /// Nested plain dicts become dotted names (some checkpoints nest sub-module state dicts).
    private func flatten(_ d: PyDict) -> [(String, PyValue)] {
        var out: [(String, PyValue)] = []
        var work: [(PyDict, String, Int)] = [(d, "", 0)]
        var seen = Set<ObjectIdentifier>()
        while let (dict, prefix, depth) = work.popLast() {
            guard seen.insert(ObjectIdentifier(dict)).inserted else { continue }
            var nested: [(PyDict, String, Int)] = []
            for (k, v) in dict.entries {
                let name = prefix + k.description
                if case .dict(let inner) = v, depth < 16 { nested.append((inner, name + ".", depth + 1)) } else { out.append((name, v)) }
            }
            work.append(contentsOf: nested.reversed())
        }
        return out
    }

    /// Training metadata worth showing: epoch, step, Lightning version, the Table 1 `args` Namespace, hyper-parameters.
    public func metadata() -> [(String, JSONValue)] {
        guard case .dict(let d) = root else { return [] }
        var out: [(String, JSONValue)] = []
        for key in ["epoch", "global_step", "step", "iteration", "pytorch-lightning_version", "hparams_name"] {
            if let v = d[string: key] { out.append((key, PlainValues.convert(v))) }
        }
        for key in ["args", "hyper_parameters", "hparams", "config", "cfg"] {
            if let v = d[string: key] { out.append((key, PlainValues.convert(v))) }
        }
        return out
    }
}
