// Spec Z8: a zip64 checkpoint with a 4 GiB + 100 B record and records past 4 GiB, written sparsely at test time
// (the file cannot be committed) in the layout torch's writer uses: zip64 extras in local and central headers,
// 24-byte data descriptors, a zip64 end record and locator, and a classic end record pointing at 0xFFFFFFFF.

import Foundation
import TorchFormats
import XCTest

final class Zip64Tests: XCTestCase {
    func testSparseFourGigabyteRecordAndOffsetsPastFourGigabytes() throws {
        let path = NSTemporaryDirectory() + "vqrt_zip64_sparse_\(getpid()).pt"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let big = UInt64(1) << 32 + 100
        try SparseZipWriter.write(path: path, prefix: "zip64_sparse", records: [
            ("data.pkl", .bytes(Self.pickle(bigCount: big))),
            ("data/0", .zeros(big)),
            ("data/1", .bytes([0, 0, 0, 0, 0, 0, 0x80, 0x3F, 0, 0, 0, 0x40, 0, 0, 0x40, 0x40])),
            ("version", .bytes(Array("3\n".utf8))),
        ])
        let ckpt = try Checkpoint.open(path: path)
        let tensors = Dictionary(uniqueKeysWithValues: ckpt.allTensors().map { ($0.name, $0.tensor) })
        XCTAssertEqual(tensors["big"]?.shape, [Int(big)])
        XCTAssertEqual(tensors["big"]?.dtype, .uint8)
        XCTAssertEqual(try tensors["small"]?.floats(), [0, 1, 2, 3])
    }

    /// `{'big': uint8 tensor on storage 0, 'small': float tensor [0,1,2,3] on storage 1}`, protocol 2.
    static func pickle(bigCount: UInt64) -> [UInt8] {
        func s(_ t: String) -> [UInt8] { Array(t.utf8) }
        func unicode(_ t: String) -> [UInt8] { [0x58] + withUnsafeBytes(of: UInt32(t.utf8.count).littleEndian, Array.init) + s(t) }
        let long5 = [0x8A, 0x05] + (0..<5).map { UInt8((bigCount >> (8 * UInt64($0))) & 0xFF) }
        func tensor(_ cls: String, _ key: String, _ numel: [UInt8], _ size: [UInt8]) -> [UInt8] {
            s("ctorch._utils\n_rebuild_tensor_v2\n((") + unicode("storage") + s("ctorch\n\(cls)\n") + unicode(key) + unicode("cpu")
                + numel + [0x74, 0x51, 0x4B, 0x00] + size + [0x85, 0x4B, 0x01, 0x85, 0x89] + s("ccollections\nOrderedDict\n)Rt") + [0x52]
        }
        return [0x80, 0x02, 0x7D, 0x28] + unicode("big") + tensor("ByteStorage", "0", long5, long5)
            + unicode("small") + tensor("FloatStorage", "1", [0x4B, 0x04], [0x4B, 0x04]) + s("u.")
    }
}

/// Writes a stored zip with torch's zip64 conventions; `.zeros` payloads are left as holes in a sparse file.
enum SparseZipWriter {
    enum Payload { case bytes([UInt8]), zeros(UInt64) }

    static func write(path: String, prefix: String, records: [(String, Payload)]) throws {
        FileManager.default.createFile(atPath: path, contents: nil)
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? h.close() }
        var offset: UInt64 = 0
        var central: [UInt8] = []
        func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
        func put(_ b: [UInt8]) throws { try h.seek(toOffset: offset); h.write(Data(b)); offset += UInt64(b.count) }
        for (name, payload) in records {
            let full = Array("\(prefix)/\(name)".utf8)
            let size: UInt64
            switch payload { case .bytes(let b): size = UInt64(b.count); case .zeros(let n): size = n }
            let lho = offset
            let bigSize = size >= 0xFFFF_FFFF, bigOffset = lho >= 0xFFFF_FFFF
            var extra: [UInt8] = []
            if bigSize || bigOffset {
                var body: [UInt8] = []
                if bigSize { body += le(size) + le(size) }
                if bigOffset { body += le(lho) }
                extra = le(UInt16(1)) + le(UInt16(body.count)) + body
            }
            // Pad the payload to 64 bytes with an "FB" extra field, as torch does.
            let start = Int(lho) + 30 + full.count + extra.count + 4
            let pad = (64 - start % 64) % 64
            extra += le(UInt16(0x4246)) + le(UInt16(pad)) + [UInt8](repeating: 0x5A, count: pad)
            try put(le(UInt32(0x04034B50)) + le(UInt16(0)) + le(UInt16(0x0808)) + le(UInt16(0)) + le(UInt32(0)) + le(UInt32(0))
                    + le(UInt32(0)) + le(UInt32(0)) + le(UInt16(full.count)) + le(UInt16(extra.count)) + full + extra)
            switch payload {
            case .bytes(let b): try put(b)
            case .zeros(let n): offset += n  // a hole
            }
            try put(le(UInt32(0x08074B50)) + le(UInt32(0)) + (bigSize || bigOffset ? le(size) + le(size) : le(UInt32(size)) + le(UInt32(size))))
            var cdExtra: [UInt8] = []
            if bigSize || bigOffset {
                var body: [UInt8] = []
                if bigSize { body += le(size) + le(size) }
                if bigOffset { body += le(lho) }
                cdExtra = le(UInt16(1)) + le(UInt16(body.count)) + body
            }
            let s32 = bigSize ? UInt32(0xFFFF_FFFF) : UInt32(size)
            central += le(UInt32(0x02014B50)) + le(UInt16(0)) + le(UInt16(0)) + le(UInt16(0x0808)) + le(UInt16(0)) + le(UInt32(0))
                + le(UInt32(0)) + le(s32) + le(s32) + le(UInt16(full.count)) + le(UInt16(cdExtra.count)) + le(UInt16(0))
                + le(UInt16(0)) + le(UInt16(0)) + le(UInt32(0)) + le(bigOffset ? UInt32(0xFFFF_FFFF) : UInt32(lho)) + full + cdExtra
        }
        let cdOffset = offset
        try put(central)
        let z64 = offset
        try put(le(UInt32(0x06064B50)) + le(UInt64(44)) + le(UInt16(45)) + le(UInt16(45)) + le(UInt32(0)) + le(UInt32(0))
                + le(UInt64(records.count)) + le(UInt64(records.count)) + le(UInt64(central.count)) + le(cdOffset))
        try put(le(UInt32(0x07064B50)) + le(UInt32(0)) + le(z64) + le(UInt32(1)))
        try put(le(UInt32(0x06054B50)) + le(UInt16(0)) + le(UInt16(0)) + le(UInt16(records.count)) + le(UInt16(records.count))
                + le(UInt32(central.count)) + le(UInt32(0xFFFF_FFFF)) + le(UInt16(0)))
    }
}
