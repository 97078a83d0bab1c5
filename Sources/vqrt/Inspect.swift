// `vqrt inspect CHECKPOINT [--json] [--tensors]`: what a checkpoint holds, without executing anything from it.

import ArgumentParser
import Foundation
import Models
import Pipeline
import PickleVM
import TorchFormats

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a checkpoint: format, family, hyper-parameters, tensors, metadata. Never executes it.")

    @Argument(help: "A .pt / .pth / .ckpt / .bin (any torch.save format) or .safetensors file.")
    var checkpoint: String

    @Flag(help: "Print exactly one JSON object on stdout.")
    var json = false

    @Flag(help: "List every tensor in the file (name, dtype, shape; with --json also a SHA-256 of its values).")
    var tensors = false

    @Flag(help: "Refuse globals outside torch's weights_only allowlist (still never executes anything).")
    var strict = false

    @Flag(help: "Verify zip CRC-32s (torch does not).")
    var verifyCRC = false

    @Flag(help: "Also read every model weight as float32 and report the time taken (used by tools/bench_load).")
    var readWeights = false

    func run() throws {
        try FileSystem.requireReadableFile(checkpoint)
        var options = LoadOptions()
        options.strict = strict
        options.verifyCRC = verifyCRC
        let started = Clock.seconds()
        let ckpt = try naming(checkpoint) { try Checkpoint.open(path: checkpoint, options: options) }
        var report = try naming(checkpoint) { try InspectReport(ckpt, withTensors: tensors, hashes: json && tensors) }
        for w in ckpt.warnings { Console.warning("\(checkpoint): \(w)") }
        let unsafe = ckpt.globalsOutsideWeightsOnly
        if !unsafe.isEmpty {
            let dangerous = unsafe.filter(\.isKnownCodeExecution)
            Console.warning("\(checkpoint): torch.load(weights_only=False) would import and run \(unsafe.map(\.description).joined(separator: ", "))"
                            + (dangerous.isEmpty ? "" : " (\(dangerous.map(\.description).joined(separator: ", ")) can execute code)")
                            + "; vqrt never does, and torch.load(weights_only=True) refuses this file")
        }
        if readWeights {
            // Every model weight read as float32 (zero-copy views of mapped records where possible).
            let sd = try naming(checkpoint) { try ckpt.stateDict() }
            var checksum = 0.0
            var bytes = 0
            for name in sd.names {
                guard let t = sd[name], t.hasData, !t.dtype.isComplex else { continue }
                checksum += try naming(checkpoint) { try t.withFloats { p in p.reduce(0.0) { $0 + Double($1) } } }
                bytes += t.numel * 4
            }
            let seconds = Clock.seconds() - started
            report.add("read_weights", .object([("seconds", .double(seconds)), ("float32_bytes", .int(Int64(bytes))),
                                                ("checksum", .double(checksum))]),
                       line: "read \(sd.count) weights (\(bytes) bytes as float32) in \(String(format: "%.3f", seconds)) s, checksum \(checksum)")
        }
        print(json ? report.json.render() : report.text)
    }
}

struct InspectReport {
    private(set) var json: JSONValue
    private(set) var text: String

    mutating func add(_ key: String, _ value: JSONValue, line: String) {
        if case .object(var items) = json { items.append((key, value)); json = .object(items) }
        text += "\n" + line
    }

    init(_ ckpt: Checkpoint, withTensors: Bool, hashes: Bool) throws {
        var items: [(String, JSONValue)] = [("file", .string(ckpt.path)), ("format", .string(ckpt.format.rawValue))]
        var lines: [String] = ["file: \(ckpt.path) (\(ckpt.fileSize) bytes)"]
        var formatLine = "format: \(ckpt.format.rawValue)"
        if let p = ckpt.archivePrefix { formatLine += " (archive folder '\(p)/')"; items.append(("archive_prefix", .string(p))) }
        if let proto = ckpt.protocolVersion { formatLine += ", pickle protocol \(proto)" }
        lines.append(formatLine)
        items.append(("protocol", ckpt.protocolVersion.map { .int(Int64($0)) } ?? .null))

        var ignored: [String] = []
        var sd: StateDict?
        do { sd = try ckpt.stateDict() } catch { ignored.append("no model state dict: \(error)") }
        // The same derivation the loader builds from (Models/Common/ModelFamilies.swift), which also picks the
        // weights the family's own evaluation runs (LlamaGen's `ema` entry).
        let family = sd.flatMap { ModelFamily.detect($0) }
        var configuration: ModelConfiguration?
        if sd != nil, family != nil {
            do {
                let derived = try ModelConfiguration.derive(checkpoint: ckpt)
                configuration = derived.configuration
                sd = derived.stateDict
            } catch {
                ignored.append("the \(family!.rawValue) configuration cannot be derived: \(error)")
            }
        }
        let hyperparameters = configuration?.hyperparameters ?? []
        items.append(("family", family.map { .string($0.rawValue) } ?? .null))
        items.append(("config", .object(hyperparameters)))
        items.append(("ema_weights", configuration.map { .bool($0.usesEMAWeights) } ?? .null))
        lines.append("family: \(family?.rawValue ?? "unknown")")
        if !hyperparameters.isEmpty { lines.append("config: " + hyperparameters.map { "\($0.0)=\($0.1.render())" }.joined(separator: ", ")) }
        if let note = configuration?.emaWeightsNote { lines.append("weights used: \(note)") }
        if let sd {
            items.append(("parameters", .int(Int64(sd.parameterCount))))
            let dtypes = sd.dtypeCounts()
            items.append(("dtypes", .object(dtypes.map { ($0.0, .int(Int64($0.1))) })))
            items.append(("state_dict", .object([("source", .string(sd.source)),
                                                  ("prefix_stripped", sd.prefixStripped.map { .string($0) } ?? .null),
                                                  ("count", .int(Int64(sd.count)))])))
            lines.append("weights: \(sd.count) tensors, \(sd.parameterCount.formatted) parameters, from '\(sd.source)'"
                         + (sd.prefixStripped.map { " (prefix '\($0)' stripped)" } ?? ""))
            lines.append("dtypes: " + dtypes.map { "\($0.0) x\($0.1)" }.joined(separator: ", "))
            ignored += sd.setAside
        } else {
            items.append(("parameters", .int(0)))
            items.append(("dtypes", .object([])))
            items.append(("state_dict", .null))
        }
        let meta = ckpt.metadata()
        items.append(("metadata", .object(meta)))
        for (k, v) in meta { lines.append("\(k): \(v.render())") }
        let classes = ckpt.globals.map(\.description).sorted()
        items.append(("classes", .array(classes.map { .string($0) })))
        if !classes.isEmpty { lines.append("classes named (never executed): " + classes.joined(separator: ", ")) }
        let unsafe = ckpt.globalsOutsideWeightsOnly.map(\.description)
        items.append(("unsafe_globals", .array(unsafe.map { .string($0) })))
        if !unsafe.isEmpty { lines.append("outside the weights_only allowlist: " + unsafe.joined(separator: ", ")) }
        items.append(("ignored", .array(ignored.map { .string($0) })))
        for i in ignored { lines.append("ignored: \(i)") }
        items.append(("warnings", .array(ckpt.warnings.map { .string($0) })))
        if withTensors {
            var list: [JSONValue] = []
            for (name, t) in ckpt.allTensors() {
                var entry: [(String, JSONValue)] = [("name", .string(name)), ("dtype", .string(t.dtype.rawValue)),
                                                    ("shape", .array(t.shape.map { .int(Int64($0)) }))]
                if hashes { entry.append(("sha256", try t.sha256().map { .string($0) } ?? .null)) }
                list.append(.object(entry))
                lines.append("  \(name)  \(t.dtype.rawValue)  \(t.shape)")
            }
            items.append(("tensors", .array(list)))
        }
        json = .object(items)
        text = lines.joined(separator: "\n")
    }
}
