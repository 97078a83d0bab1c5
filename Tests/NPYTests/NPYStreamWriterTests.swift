import Foundation
import NPY
import XCTest

final class NPYStreamWriterTests: XCTestCase {
    func testBlocksAppendIntoOneArrayAndUnfinishedFilesVanish() throws {
        let dir = NSTemporaryDirectory() + "npy-stream-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/raw.npy"
        let count = 7 * 2 * 3 * 5
        let values: [Float] = (0..<count).map { i in Float(i) * 0.5 - 3 }
        let writer = try NPYStreamWriter(path: path, rowShape: [2, 3, 5])
        for (start, end) in [(0, 30), (30, 150), (150, 210)] {   // 1, 4 and 2 rows
            try values[start..<end].withUnsafeBufferPointer { try writer.append($0) }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "visible before finish")
        XCTAssertThrowsError(try [Float](repeating: 0, count: 7).withUnsafeBufferPointer { try writer.append($0) })
        try writer.finish()
        let back = try NPY.read(path: path)
        XCTAssertEqual(back.shape, [7, 2, 3, 5])
        XCTAssertEqual(try back.floats(), values)
        // The header is padded to a multiple of 64 bytes, as numpy aligns the data.
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertEqual((bytes.count - values.count * 4) % 64, 0)

        do {
            let abandoned = try NPYStreamWriter(path: dir + "/abandoned.npy", rowShape: [4])
            try [Float](repeating: 1, count: 8).withUnsafeBufferPointer { try abandoned.append($0) }
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["raw.npy"], "temporary files left behind")
    }
}
