// stderr: errors and warnings (one line each, always), progress (a bar on a terminal, a line every few seconds
// otherwise, nothing with --quiet). stdout carries results only (`--json`: exactly one object).

import Foundation
import Pipeline

enum Console {
    static func error(_ message: String) { write("error: " + message) }
    static func warning(_ message: String) { write("warning: " + message) }
    static func info(_ message: String) { write(message) }

    private static let lock = NSLock()
    private static func write(_ line: String) {
        lock.lock(); defer { lock.unlock() }
        FileHandle.standardError.write(Data((line.replacingOccurrences(of: "\n", with: " ") + "\n").utf8))
    }

    /// The pipeline's warning sink.
    static let warn: @Sendable (String) -> Void = { Console.warning($0) }
}

final class Progress {
    let label: String
    let quiet: Bool
    let tty = isatty(2) != 0
    let start = Clock.seconds()
    private var lastPrint = 0.0
    /// Images already done when the run started (a resumed eval): not counted in the speed.
    private var initial: Int?
    private(set) var done = 0

    init(label: String, quiet: Bool) { self.label = label; self.quiet = quiet }

    /// Reports `done` of `total`.
    func update(_ done: Int, _ total: Int) {
        if initial == nil { initial = done }
        self.done = done
        guard !quiet else { return }
        let now = Clock.seconds()
        let computed = done - (initial ?? 0)
        let rate = Double(computed) / max(now - start, 1e-9)
        if tty {
            let width = 30, filled = total > 0 ? width * min(done, total) / total : width
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            FileHandle.standardError.write(Data(String(format: "\r%@ [%@] %d/%d  %.2f img/s", label, bar, done, total, rate).utf8))
            if done >= total { FileHandle.standardError.write(Data("\n".utf8)) }
        } else if now - lastPrint >= 5 || done >= total {
            lastPrint = now
            Console.info(String(format: "%@: %d/%d images, %.2f img/s", label, done, total, rate))
        }
    }

    var sink: (Int, Int) -> Void { { [self] in update($0, $1) } }
    var elapsed: Double { Clock.seconds() - start }
    /// Images computed by this process.
    var computed: Int { done - (initial ?? 0) }
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
