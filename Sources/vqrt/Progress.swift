// Progress on stderr: a bar on a terminal, a line every few seconds otherwise, nothing with --quiet.

import Foundation

final class Progress {
    let total: Int
    let label: String
    let quiet: Bool
    let tty = isatty(2) != 0
    let start = Clock.seconds()
    var lastPrint = 0.0
    private(set) var done = 0

    init(total: Int, label: String, quiet: Bool) { self.total = total; self.label = label; self.quiet = quiet }

    func advance(by n: Int) {
        done += n
        guard !quiet else { return }
        let now = Clock.seconds()
        let rate = Double(done) / max(now - start, 1e-9)
        if tty {
            let width = 30, filled = total > 0 ? width * done / total : width
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            FileHandle.standardError.write(Data(String(format: "\r%@ [%@] %d/%d  %.2f img/s", label, bar, done, total, rate).utf8))
            if done >= total { FileHandle.standardError.write(Data("\n".utf8)) }
        } else if now - lastPrint >= 5 || done >= total {
            lastPrint = now
            Console.info(String(format: "%@: %d/%d images, %.2f img/s", label, done, total, rate))
        }
    }

    var elapsed: Double { Clock.seconds() - start }
}
