// Where the package's committed fixtures are, for every test target (found from this file's own path, so tests
// run from any working directory).

import Foundation

public enum PackagePaths {
    /// The directory holding Package.swift.
    public static let root: URL = {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while url.path != "/" {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
            url.deleteLastPathComponent()
        }
        fatalError("package root not found above \(#filePath)")
    }()

    /// `Fixtures/<path>` (or `Fixtures` itself for an empty path).
    public static func fixtures(_ path: String = "") -> URL {
        path.isEmpty ? root.appendingPathComponent("Fixtures") : root.appendingPathComponent("Fixtures").appendingPathComponent(path)
    }
}
