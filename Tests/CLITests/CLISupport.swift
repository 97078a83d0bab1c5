import Foundation
import XCTest

/// Runs the built `vqrt` executable (a dependency of this test target, next to the test bundle).
struct CLI {
    static let binary: URL = Bundle.main.bundleURL.appendingPathComponent("vqrt")
    static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { url.deleteLastPathComponent() }
        return url
    }()
    static func fixture(_ path: String) -> String { packageRoot.appendingPathComponent("Fixtures").appendingPathComponent(path).path }

    struct Result { let status: Int32; let stdout: String; let stderr: String }

    static func run(_ args: [String], environment: [String: String] = [:]) throws -> Result {
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }
}
