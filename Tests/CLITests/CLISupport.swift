import Foundation
import TestSupport
import Models
import NN
import XCTest

/// Runs the built `vqrt` executable (a dependency of this test target, next to the test bundle).
struct CLI {
    static let binary: URL = Bundle.main.bundleURL.appendingPathComponent("vqrt")
    static let packageRoot = PackagePaths.root
    static func fixture(_ path: String) -> String { packageRoot.appendingPathComponent("Fixtures").appendingPathComponent(path).path }

    struct Result { let status: Int32; let stdout: String; let stderr: String }

    static func run(_ args: [String], environment: [String: String] = [:]) throws -> Result {
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }
}

extension CLI {
    /// A fresh directory under the temporary directory (removed by `XCTestCase.addTeardownBlock` callers).
    static func temporaryDirectory(_ label: String) throws -> URL {
        let url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("vqrt-\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Synthetic FID Inception weights ("inception-fixture v1", `seed`) as a safetensors file, written once per process.
    static func inceptionWeights(seed: UInt64 = 1) -> String {
        lock.lock(); defer { lock.unlock() }
        if let p = written[seed] { return p }
        let path = NSTemporaryDirectory() + "vqrt-test-inception-\(seed)-\(getpid()).safetensors"
        removeAtExit
        try! writeSafetensors(InceptionWeights.synthetic(seed: seed), layout: InceptionWeights.stateDictLayout, to: path)
        written[seed] = path
        return path
    }
    nonisolated(unsafe) private static var written: [UInt64: String] = [:]
    private static let lock = NSLock()

    /// The weight files above (95 MB each for Inception) are removed when the test process exits.
    private static let removeAtExit: Void = {
        atexit {
            for p in Array(CLI.written.values) + Array(CLI.backbones.values) { unlink(p) }
        }
    }()

    /// A synthetic LPIPS backbone in torchvision's layout ("lpips-backbone v1": contract C4, seed 5, 4-d weights
    /// times Float(sqrt 2), as tools/make_metric_fixtures.py makes it for Fixtures/paper_metrics/lpips.json), as a
    /// safetensors file written once per process.
    static func lpipsBackbone(_ net: LPIPS.Net = .alex) -> String {
        lock.lock(); defer { lock.unlock() }
        if let p = backbones[net] { return p }
        let path = NSTemporaryDirectory() + "vqrt-test-lpips-\(net.rawValue)-\(getpid()).safetensors"
        removeAtExit
        try! writeSafetensors(SyntheticLPIPSBackbone(net), layout: LPIPSWeights.featureLayout(net), to: path)
        backbones[net] = path
        return path
    }
    nonisolated(unsafe) private static var backbones: [LPIPS.Net: String] = [:]

    /// Images of several sizes, modes and formats that decode cleanly: the demo photos and the decode fixtures.
    static var goodImages: [String] {
        let dir = fixture("imaging/decode")
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
            .filter { ($0.hasSuffix(".png") || $0.hasSuffix(".jpg")) && !$0.hasPrefix("bad_") }.sorted()
        return ["astronaut", "chelsea", "coffee", "rocket"].map { fixture("demo/images/\($0).png") }
            + names.map { (dir as NSString).appendingPathComponent($0) }
    }

    /// The data bytes of a version-1 .npy file (what vqrt writes), and its header's shape.
    static func npyPayload(_ path: String) throws -> Data {
        let d = try Data(contentsOf: URL(fileURLWithPath: path))
        guard d.count > 10, d.starts(with: [0x93] + Array("NUMPY".utf8)), d[d.startIndex + 6] == 1 else {
            throw NSError(domain: "vqrt-tests", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(path) is not a version-1 .npy file"])
        }
        let headerLength = Int(d[d.startIndex + 8]) | Int(d[d.startIndex + 9]) << 8
        return d.subdata(in: (d.startIndex + 10 + headerLength)..<d.endIndex)
    }

    static func floats(_ path: String) throws -> [Float] {
        let payload = try npyPayload(path)
        return payload.withUnsafeBytes { raw in (0..<(payload.count / 4)).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) } }
    }

    /// Every file under `dir` (relative path -> bytes).
    static func contents(of dir: URL) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: dir.path) {
            var isDirectory: ObjCBool = false
            let url = dir.appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
                for (inner, data) in try contents(of: url) { out[name + "/" + inner] = data }
            } else {
                out[name] = try Data(contentsOf: url)
            }
        }
        return out
    }

    static func json(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }
}

/// lpips-backbone v1 (see `CLI.lpipsBackbone`).
final class SyntheticLPIPSBackbone: WeightSource {
    let base: DeterministicWeightSource
    init(_ net: LPIPS.Net) { base = DeterministicWeightSource(seed: 5, tensors: LPIPSWeights.featureLayout(net)) }
    var names: [String] { base.names }
    func tensor(named name: String) throws -> (shape: [Int], values: [Float])? {
        guard var t = try base.tensor(named: name) else { return nil }
        if t.shape.count == 4 {
            let gain = Float(2.0.squareRoot())
            for i in t.values.indices { t.values[i] *= gain }
        }
        return t
    }
}

/// One `error:` line on stderr, nothing else, a non-zero status, mentioning each of `words`.
func XCTAssertOneErrorLine(_ r: CLI.Result, _ words: String..., file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertNotEqual(r.status, 0, "expected a failure: \(r.stderr)", file: file, line: line)
    let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: true).filter { !$0.hasPrefix("warning: ") }
    XCTAssertEqual(lines.count, 1, "not one error line: \(r.stderr)", file: file, line: line)
    XCTAssertTrue(lines.first?.hasPrefix("error: ") ?? false, r.stderr, file: file, line: line)
    for w in words { XCTAssertTrue(r.stderr.contains(w), "'\(w)' missing from: \(r.stderr)", file: file, line: line) }
    XCTAssertFalse(r.stderr.contains("NSCocoaErrorDomain") || r.stderr.contains("Error Domain") || r.stderr.contains("Fatal error"),
                   r.stderr, file: file, line: line)
}
