// The error contract: one line on stderr starting with `error:` naming the file, and a non-zero exit status.

import ArgumentParser
import Foundation

struct Console {
    static func error(_ message: String) {
        FileHandle.standardError.write(Data(("error: " + message + "\n").utf8))
    }
    static func warning(_ message: String) {
        FileHandle.standardError.write(Data(("warning: " + message + "\n").utf8))
    }
    static func info(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}

/// Runs `body`; any thrown error becomes `error: <file>: <message>` and exit status 1.
func reportingErrors(file: String?, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as ExitCode {
        throw e
    } catch {
        let text = "\(error)".replacingOccurrences(of: "\n", with: " ")
        Console.error(file.map { "\(($0 as NSString).lastPathComponent): \(text)" } ?? text)
        throw ExitCode(1)
    }
}
