// `--precision bf16` end to end on the bundled demo VQGAN (Fixtures/demo: 4 held-out 128x128 photos): the model
// runs, really in bfloat16 (the latents differ from fp32 by about bfloat16 rounding), and stays close to fp32
// (codes mostly equal, PSNR within a few hundredths of a dB). Measured: 97.2% of the 4096 codes equal, latents
// within 0.9% of their largest magnitude, mean PSNR 19.86 dB in both.

import Foundation
import XCTest

final class PrecisionCLITests: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws {
        tmp = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("vqrt-precision-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    var model: [String] { ["--checkpoint", CLI.fixture("demo/demo-vqgan.ckpt"), "--config", CLI.fixture("demo/config.yaml")] }

    /// The data bytes of a version-1 .npy file (what `vqrt encode` writes).
    private func npyPayload(_ path: String) throws -> Data {
        let d = try Data(contentsOf: URL(fileURLWithPath: path))
        guard d.count > 10, d.starts(with: [0x93] + Array("NUMPY".utf8)), d[d.startIndex + 6] == 1 else {
            throw CLIError("\(path) is not a version-1 .npy file")
        }
        let headerLength = Int(d[d.startIndex + 8]) | Int(d[d.startIndex + 9]) << 8
        return d.subdata(in: (d.startIndex + 10 + headerLength)..<d.endIndex)
    }

    private func values<T>(_ path: String, as: T.Type) throws -> [T] {
        let payload = try npyPayload(path)
        return payload.withUnsafeBytes { raw in
            (0..<(payload.count / MemoryLayout<T>.size)).map { raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self) }
        }
    }

    struct CLIError: Error, CustomStringConvertible { let description: String; init(_ s: String) { description = s } }

    func testBFloat16EncodeStaysCloseToFloat32() throws {
        var codes: [String: [Int64]] = [:], latents: [String: [Float]] = [:]
        for p in ["fp32", "bf16"] {
            let c = tmp.appendingPathComponent("codes-\(p).npy").path, l = tmp.appendingPathComponent("lat-\(p).npy").path
            let r = try CLI.run(["encode"] + model + [CLI.fixture("demo/images"), "--codes", c, "--latents", l, "--precision", p, "--quiet"])
            XCTAssertEqual(r.status, 0, r.stderr)
            codes[p] = try values(c, as: Int64.self)
            latents[p] = try values(l, as: Float.self)
        }
        let c32 = try XCTUnwrap(codes["fp32"]), c16 = try XCTUnwrap(codes["bf16"])
        let l32 = try XCTUnwrap(latents["fp32"]), l16 = try XCTUnwrap(latents["bf16"])
        XCTAssertEqual(c32.count, 4 * 32 * 32)
        XCTAssertEqual(c16.count, c32.count)
        XCTAssertEqual(l16.count, l32.count)
        let equal = Double(zip(c32, c16).filter { $0 == $1 }.count) / Double(max(c32.count, 1))
        let scale = Double(l32.map { abs($0) }.max() ?? 1)
        let difference = Double(zip(l32, l16).map { abs($0 - $1) }.max() ?? .infinity) / scale
        print("bf16 vs fp32 on the demo images: \(equal * 100)% codes equal, latents differ by \(difference) of their range")
        // fp32 reproduces PyTorch's codes exactly (Fixtures/demo/codes.npy).
        XCTAssertEqual(try values(CLI.fixture("demo/codes.npy"), as: Int64.self), c32)
        XCTAssertGreaterThan(equal, 0.9)
        // Really bfloat16: differences of the order of its rounding (2^-9 relative per operand), not float32's.
        XCTAssertGreaterThan(difference, 1e-4)
        XCTAssertLessThan(difference, 3e-2)
    }

    func testBFloat16DemoPSNR() throws {
        var psnr: [String: Double] = [:]
        for p in ["fp32", "bf16"] {
            let r = try CLI.run(["demo", "--output", tmp.appendingPathComponent(p).path, "--precision", p],
                                environment: ["VQRT_DEMO_DIR": CLI.fixture("demo")])
            XCTAssertEqual(r.status, 0, r.stderr)
            let line = r.stdout.split(separator: "\n").first { $0.hasPrefix("mean PSNR:") }
            psnr[p] = line.flatMap { $0.split(separator: " ").dropFirst(2).first }.flatMap { Double($0) }
        }
        let p32 = try XCTUnwrap(psnr["fp32"]), p16 = try XCTUnwrap(psnr["bf16"])
        print("demo mean PSNR: fp32 \(p32) dB, bf16 \(p16) dB")
        XCTAssertEqual(p16, p32, accuracy: 0.1)
    }

    func testUnknownPrecisionIsRejected() throws {
        let r = try CLI.run(["encode"] + model + [CLI.fixture("demo/images"), "--codes", tmp.appendingPathComponent("c.npy").path,
                                                 "--precision", "fp16"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--precision"), r.stderr)
    }
}
