// Damaged files: every truncation of small fixtures of each container, seeded random byte flips, random bytes.
// Each must end in an error or a harmless load (whose tensors, state dict and values are then used), never a
// crash, a hang or a huge allocation.

import Foundation
import PickleVM
import TorchFormats
import XCTest

final class RobustnessTests: XCTestCase {
    /// Loads and then uses everything a load produces; returns whether it loaded.
    @discardableResult
    static func exercise(_ bytes: [UInt8]) -> Bool {
        guard let c = try? Checkpoint.load(bytes: bytes, name: "damaged") else { return false }
        for (_, t) in c.allTensors() { _ = try? t.sha256() }
        _ = try? c.stateDict()
        _ = c.metadata()
        _ = PlainValues.convert(c.root).render()
        return true
    }

    func testEveryTruncationOfEachContainerKind() throws {
        for name in ["sd_small.pt", "tl.pt", "sd_legacy_proto4.pt", "legacy_tar.pt", "small.safetensors", "deflated.pt"] {
            let data = Array(try Data(contentsOf: URL(fileURLWithPath: Fixtures.loader(name))))
            XCTAssertTrue(Self.exercise(data), "\(name) must load whole")
            // Cuts inside trailing zero padding (tar blocks) legitimately still load; cuts into content mostly must not.
            let content = (data.lastIndex { $0 != 0 } ?? 0) + 1
            var loaded = 0
            for cut in 0..<data.count where Self.exercise(Array(data[0..<cut])) && cut < content { loaded += 1 }
            XCTAssertLessThan(loaded, content / 2, "\(name): \(loaded) truncations into content loaded")
        }
    }

    func testSeededByteFlipsAndRandomBytes() throws {
        var rng = SplitMix(seed: 0x5EED)
        for name in ["sd_small.pt", "sd_legacy.pt", "legacy_tar.pt", "misc.pt", "pl_last.ckpt", "table1_rt.pth", "small.safetensors"] {
            let data = Array(try Data(contentsOf: URL(fileURLWithPath: Fixtures.loader(name))))
            for _ in 0..<300 {
                var d = data
                for _ in 0..<(1 + Int(rng.next() % 4)) { d[Int(rng.next() % UInt64(d.count))] ^= UInt8(truncatingIfNeeded: rng.next() | 1) }
                Self.exercise(d)
            }
        }
        for n in [0, 1, 7, 64, 512, 4096] {
            for _ in 0..<50 { Self.exercise((0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }) }
        }
    }

    func testInputsTheFuzzerFound() throws {
        let dir = Fixtures.root.appendingPathComponent("loader/fuzz")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !$0.hasSuffix(".md") }
        XCTAssertFalse(files.isEmpty)
        for f in files {
            let data = Array(try Data(contentsOf: dir.appendingPathComponent(f)))
            XCTAssertThrowsError(try Checkpoint.load(bytes: data, name: f), f)
            Self.exercise(data)
        }
    }

    func testFilesThatClaimMoreThanTheyHold() throws {
        // A stored record declared 2^40 bytes long in a tiny file: refused before any allocation.
        var data = Array(try Data(contentsOf: URL(fileURLWithPath: Fixtures.loader("t.pt"))))
        let eocd = try XCTUnwrap((0...(data.count - 4)).last { data[$0] == 0x50 && data[$0 + 1] == 0x4B && data[$0 + 2] == 5 && data[$0 + 3] == 6 })
        data[eocd + 10] = 0xFF; data[eocd + 11] = 0xFF  // entry count 65535 in a small central directory
        XCTAssertThrowsError(try Checkpoint.load(bytes: data, name: "lying")) { XCTAssertTrue("\($0)".contains("zip")) }
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
