import Foundation
import Tensor
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Large tensors are 2 MB-aligned and advised to use transparent huge pages (Storage.swift): filling a fresh 64 MB
/// tensor costs a few dozen page faults where THP is allowed, instead of 16,384 with 4 KB pages.
final class HugePageTests: XCTestCase {
    func testAFreshLargeTensorIsHugePageAlignedAndFaultsInFewPages() throws {
        let floats = 16 << 20 + 4099   // a size nothing else in the test process allocates, so the pool has none
        let t = TensorStorage(uninitialized: floats)
        XCTAssertEqual(Int(bitPattern: t.pointer) % (2 << 20), 0, "a 64 MB buffer is 2 MB-aligned")
        let mode = (try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/enabled", encoding: .utf8)) ?? ""
        guard mode.contains("[always]") || mode.contains("[madvise]") else {
            throw XCTSkip("transparent huge pages are off on this kernel (\(mode.trimmingCharacters(in: .whitespacesAndNewlines)))")
        }
        var before = rusage(), after = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &before)
        t.pointer.update(repeating: 1, count: floats)
        getrusage(Int32(RUSAGE_SELF.rawValue), &after)
        let faults = after.ru_minflt - before.ru_minflt
        // 4 KB pages: 16,385 faults. Huge pages: 32, plus the unaligned tail and whatever else ran; a kernel short of
        // free 2 MB pages may fall back for some of them, hence the margin.
        XCTAssertLessThan(faults, 4096, "page faults filling 64 MB")
    }
}
