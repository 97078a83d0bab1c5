// `vqrt inspect CHECKPOINT [--json] [--tensors]`: what a checkpoint holds, without executing anything from it.

import ArgumentParser
import Foundation
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
        try reportingErrors(file: checkpoint) {
            var options = LoadOptions()
            options.strict = strict
            options.verifyCRC = verifyCRC
            let started = Clock.seconds()
            let ckpt = try Checkpoint.open(path: checkpoint, options: options)
            var report = try InspectReport(ckpt, withTensors: tensors, hashes: json && tensors)
            if readWeights {
                // Every model weight read as float32 (zero-copy views of mapped records where possible).
                let sd = try ckpt.stateDict()
                var checksum = 0.0
                var bytes = 0
                for name in sd.names {
                    guard let t = sd[name], t.hasData, !t.dtype.isComplex else { continue }
                    checksum += try t.withFloats { p in p.reduce(0.0) { $0 + Double($1) } }
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
        let guess = sd.flatMap { FamilyGuess.detect($0, checkpoint: ckpt) }
        items.append(("family", guess.map { .string($0.family.rawValue) } ?? .null))
        items.append(("config", .object(guess?.config ?? [])))
        lines.append("family: \(guess?.family.rawValue ?? "unknown")")
        if let guess { lines.append("config: " + guess.config.map { "\($0.0)=\($0.1.render())" }.joined(separator: ", ")) }
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
        items.append(("ignored", .array(ignored.map { .string($0) })))
        for i in ignored { lines.append("ignored: \(i)") }
        items.append(("warnings", .array(ckpt.warnings.map { .string($0) })))
        for w in ckpt.warnings { lines.append("warning: \(w)") }
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

extension Int {
    /// 12345678 -> "12,345,678"
    var formatted: String {
        let s = String(self)
        var out = ""
        for (i, ch) in s.reversed().enumerated() {
            if i > 0, i % 3 == 0, ch != "-" { out.append(",") }
            out.append(ch)
        }
        return String(out.reversed())
    }
}

enum Clock {
    /// Monotonic seconds.
    static func seconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
