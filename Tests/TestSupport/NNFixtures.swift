import Foundation
import XCTest
import NPY
import Tensor

/// Fixtures/nn (written by tools/make_nn_fixtures.py): the manifest and its arrays, shared by NNTests and TensorTests.
public enum NNFixtures {
    public static let directory = PackagePaths.fixtures("nn")

    public static let manifest: [String: Any] = {
        let url = directory.appendingPathComponent("manifest.json")
        guard let data = try? Data(contentsOf: url),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
        return obj
    }()

    public static func cases(kind: String) -> [[String: Any]] {
        ((manifest["cases"] as? [[String: Any]]) ?? []).filter { $0["kind"] as? String == kind }
    }

    public static func array(_ file: String) throws -> NPYArray {
        try NPY.read(path: directory.appendingPathComponent(file).path)
    }

    public static func floats(_ file: String) throws -> (shape: [Int], values: [Float]) {
        let a = try array(file)
        return (a.shape, try a.floats())
    }
}

/// One fixture case: its inputs, PyTorch outputs and tolerance.
public struct NNCase {
    public let name: String
    public let params: [String: Any]
    public let inputs: [String: String]
    public let outputShape: [Int]
    public let exact: Bool
    public let tolMax: Double
    public let tolRMS: Double
    public let torchMax: Double
    /// Why this case has no tolerance on this CPU (no PyTorch error recorded for its kind), if so.
    public let missingRecord: String?
    public let json: [String: Any]

    /// The CPU kind whose recorded PyTorch errors apply here.
    public static let cpuKind = CPUKind.current?.rawValue ?? "unknown (oneDNN ISA \(CPUKind.effectiveISA))"

    public init(_ j: [String: Any]) {
        json = j
        name = j["name"] as? String ?? "?"
        params = j["params"] as? [String: Any] ?? [:]
        inputs = j["inputs"] as? [String: String] ?? [:]
        outputShape = j["output_shape"] as? [Int] ?? []
        exact = j["exact"] as? Bool ?? false
        // factor x PyTorch's own float32 error on this kind of CPU + two float32 ulps of the largest output
        // (tools/make_nn_fixtures.py); no fallback to another kind's error, which may be looser or tighter.
        let factor = NNFixtures.manifest["factor"] as? Double ?? .nan
        let floor = j["tolerance_floor"] as? [String: Double] ?? [:]
        let byCPU = j["torch_f32_vs_f64_by_cpu"] as? [String: [String: Any]] ?? [:]
        if let e = byCPU[NNCase.cpuKind], let m = e["maxabs"] as? Double, let r = e["rms"] as? Double,
           let fm = floor["maxabs"], let fr = floor["rms"] {
            torchMax = m
            tolMax = factor * m + fm
            tolRMS = factor * r + fr
            missingRecord = nil
        } else {
            torchMax = .nan; tolMax = .nan; tolRMS = .nan
            missingRecord = "no PyTorch float32 error recorded for CPU kind \(NNCase.cpuKind) (recorded: \(byCPU.keys.sorted())); run tools/make_nn_fixtures.py --record-cpu-errors on this machine"
        }
    }

    public func input(_ key: String) throws -> (shape: [Int], values: [Float]) {
        guard let f = inputs[key] else { throw NSError(domain: "fixture \(name) lacks input \(key)", code: 1) }
        return try NNFixtures.floats(f)
    }

    /// Checks `got` (logical C-order values) against the float64 reference, or bitwise against the float32 output
    /// for exact cases. Returns (maxabs, rms) for the summary.
    @discardableResult
    public func check(_ got: [Float], shape: [Int], label: String = "", file: StaticString = #filePath, line: UInt = #line) throws -> (Double, Double) {
        let tag = label.isEmpty ? name : "\(name) [\(label)]"
        XCTAssertEqual(shape, outputShape, "\(tag): output shape", file: file, line: line)
        if exact {
            let want = try NNFixtures.floats(json["expected_f32"] as? String ?? "").values
            XCTAssertEqual(got.count, want.count, "\(tag): count", file: file, line: line)
            let same = zip(got, want).allSatisfy { $0.bitPattern == $1.bitPattern }
            XCTAssertTrue(same, "\(tag): exact operation differs from PyTorch", file: file, line: line)
            return (0, 0)
        }
        if let missingRecord {
            XCTFail("\(tag): \(missingRecord)", file: file, line: line)
            return (.infinity, .infinity)
        }
        let want = try NNFixtures.array(json["expected_f64"] as? String ?? "").doubles()
        guard got.count == want.count, !want.isEmpty else {
            XCTFail("\(tag): \(got.count) values, expected \(want.count)", file: file, line: line)
            return (.infinity, .infinity)
        }
        var maxabs = 0.0, sq = 0.0
        for (g, w) in zip(got, want) {
            let e = abs(Double(g) - w)
            if !(e <= maxabs) { maxabs = e.isNaN ? .infinity : e }
            sq += e * e
        }
        let rms = (sq / Double(want.count)).squareRoot()
        XCTAssertLessThanOrEqual(maxabs, tolMax, "\(tag): max |vqrt − f64| = \(maxabs), torch f32 = \(torchMax)", file: file, line: line)
        XCTAssertLessThanOrEqual(rms, tolRMS, "\(tag): rms = \(rms)", file: file, line: line)
        print(String(format: "  %-34@ vqrt-f64 max %.3g rms %.3g | torch f32-f64 max %.3g (ratio %.2f)",
                     tag as NSString, maxabs, rms, torchMax, torchMax > 0 ? maxabs / torchMax : 0))
        return (maxabs, rms)
    }
}
