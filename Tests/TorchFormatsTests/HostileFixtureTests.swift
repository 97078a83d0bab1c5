// The hostile list of spec §11.5 (H1-H41): code-execution pickles, malformed opcodes, memo and stack abuse, huge
// declared lengths, deep nesting, size/stride overflow, short and long storages, zip tricks, bombs, polyglots.
// Each must end as its manifest says, in both modes: an error that names the check meant to refuse it (the
// manifest's `contains` / `strict_contains`, so a failure for another reason, say an I/O or format error before
// that check, does not pass), or a harmless load (with the warning `warns` names). Work is bounded by the loader's
// own limits, checked per file as memory: no file may raise the resident set beyond what those limits allow. No
// canary file may ever appear.

import Foundation
import PickleVM
import TorchFormats
import XCTest

final class HostileFixtureTests: XCTestCase {
    func testEveryHostileFixtureEndsAsExpected() throws {
        let dir = Fixtures.root.appendingPathComponent("loader/hostile")
        let manifest = try XCTUnwrap(try Fixtures.json(dir.appendingPathComponent("manifest.json").path) as? [[String: Any]])
        XCTAssertGreaterThan(manifest.count, 100)
        var strict = LoadOptions()
        strict.strict = true
        var ids = Set<String>()
        var largestRise = (kib: 0, file: "")
        for entry in manifest {
            let file = try XCTUnwrap(entry["file"] as? String)
            let path = dir.appendingPathComponent(file).path
            let expect = entry["expect"] as? String ?? "?"
            let contains = entry["contains"] as? String
            ids.insert(entry["id"] as? String ?? "")
            if let canary = entry["canary"] as? String { try? FileManager.default.removeItem(atPath: canary) }
            // Tests share one process, and earlier suites leave gigabytes resident: measure this file's rise only.
            let peak = PeakMemory()
            var permissive: Checkpoint?
            var permissiveError: Error?
            do { permissive = try Checkpoint.open(path: path) } catch { permissiveError = error }
            if let c = permissive {  // whatever loads must also be usable without trouble
                for (_, t) in c.allTensors() { _ = try? t.sha256() }
                _ = try? c.stateDict()
                _ = PlainValues.convert(c.root).render()
            }
            switch expect {
            case "error":
                guard let e = permissiveError else { XCTFail("\(file): loaded, expected an error"); break }
                guard let contains else { XCTFail("\(file): the manifest names no error (contains) for it"); break }
                XCTAssertTrue("\(e)".contains(contains), "\(file): '\(e)' lacks '\(contains)'")
                XCTAssertFalse("\(e)".contains("\n"), "\(file): error message must be one line")
            case "load", "load-warn", "error-strict":
                guard let c = permissive else { XCTFail("\(file): \(permissiveError.map { "\($0)" } ?? "?"), expected a load"); break }
                if expect == "load-warn" {
                    let warns = entry["warns"] as? String
                    XCTAssertNotNil(warns, "\(file): the manifest names no warning (warns) for it")
                    XCTAssertTrue(c.warnings.contains { $0.contains(warns ?? "") }, "\(file): warnings \(c.warnings) lack '\(warns ?? "")'")
                }
                for (name, values) in entry["check"] as? [String: [Double]] ?? [:] {
                    let t = c.allTensors().first { $0.name == name }?.tensor
                    XCTAssertEqual(try t?.doubles(), values, "\(file): \(name)")
                }
            default:
                XCTFail("\(file): unknown expectation \(expect)")
            }
            // Strict (weights_only-like) mode: every entry says what it gives; an error names its check too.
            let strictExpect = entry["strict"] as? String ?? "?"
            var strictError: Error?
            do { _ = try Checkpoint.open(path: path, options: strict) } catch { strictError = error }
            switch strictExpect {
            case "error":
                guard let e = strictError else { XCTFail("\(file): loaded in strict mode, expected an error"); break }
                // error-strict entries name the strict error in `contains`; others in `strict_contains`, or share the
                // permissive error's.
                let needle = entry["strict_contains"] as? String ?? contains
                guard let needle else { XCTFail("\(file): the manifest names no strict error for it"); break }
                XCTAssertTrue("\(e)".contains(needle), "\(file): strict error '\(e)' lacks '\(needle)'")
                XCTAssertFalse("\(e)".contains("\n"), "\(file): strict error message must be one line")
            case "load":
                XCTAssertNil(strictError, "\(file): strict mode failed (\(strictError.map { "\($0)" } ?? "")), expected a load")
            default:
                XCTFail("\(file): unknown strict expectation \(strictExpect)")
            }
            // Memory instead of time: the loader's own caps bound what one file can make it allocate (an inflated
            // record, or one materialised view of repeated elements), so the rise may not exceed their sum.
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            let limit = (ZipArchive.inflateCap(fileBytes: size) + TensorRef.maxExpandedBytes) >> 10 + HostileFixtureTests.slackKiB
            let rise = peak.kibibytesSinceStart()
            XCTAssertLessThanOrEqual(rise, limit, "\(file): resident set rose by \(rise) KiB (limit \(limit) KiB, \(peak.method))")
            if rise > largestRise.kib { largestRise = (rise, file) }
            if let canary = entry["canary"] as? String { XCTAssertFalse(FileManager.default.fileExists(atPath: canary), "\(file) executed code!") }
        }
        XCTAssertGreaterThanOrEqual(ids.count, 35, "hostile cases cover fewer spec ids than expected: \(ids.sorted())")
        print("hostile fixtures: largest rise of the resident set \(largestRise.kib) KiB (\(largestRise.file))")
    }

    /// What the test itself allocates besides the loader's data (values converted to doubles, rendered text).
    static let slackKiB = 64 << 10
}

/// How far the resident set rises above its size at the start. On Linux the high-water mark can be reset to the
/// current size (writing 5 to /proc/self/clear_refs) and read back as VmHWM; the rise is VmHWM minus the VmRSS at the
/// start (earlier suites in the same process leave gigabytes resident). Where the reset is refused, fall back to how
/// far getrusage's lifetime peak rises, which can only under-count when an earlier test peaked higher.
struct PeakMemory {
    let method: String
    private let canReset: Bool
    private let baseline: Int

    init() {
        if PeakMemory.resetHighWaterMark(), let rss = PeakMemory.status("VmRSS:"), PeakMemory.status("VmHWM:") != nil {
            canReset = true
            method = "VmHWM after reset, less the resident \(rss) KiB at the start"
            baseline = rss
        } else {
            canReset = false
            method = "ru_maxrss growth"
            baseline = PeakMemory.lifetimePeak()
        }
    }

    func kibibytesSinceStart() -> Int {
        if canReset, let hwm = PeakMemory.status("VmHWM:") { return max(0, hwm - baseline) }
        return max(0, PeakMemory.lifetimePeak() - baseline)
    }

    private static func resetHighWaterMark() -> Bool {
        guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? handle.close() }
        do { try handle.write(contentsOf: Data("5".utf8)) } catch { return false }
        return true
    }

    /// A "Name:   value kB" line of /proc/self/status, in KiB.
    private static func status(_ field: String) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix(field) {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        }
        return nil
    }

    private static func lifetimePeak() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss
    }
}
