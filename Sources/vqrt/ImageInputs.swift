// IMAGE... arguments (cli.md): files keep their order; a directory stands for the image files directly inside it,
// sorted by file name in byte order. Output names are the input base names with `.png`.

import Foundation

enum ImageInputs {
    static let extensions: Set<String> = ["png", "jpg", "jpeg", "JPEG", "JPG", "PNG"]

    static func expand(_ args: [String]) throws -> [String] {
        var out: [String] = []
        for a in args {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: a, isDirectory: &isDir) else { throw CLIError("\(a): no such file or directory") }
            if isDir.boolValue {
                let names = try FileManager.default.contentsOfDirectory(atPath: a)
                    .filter { extensions.contains(($0 as NSString).pathExtension) }
                    .sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
                out += names.map { (a as NSString).appendingPathComponent($0) }
            } else {
                out.append(a)
            }
        }
        guard !out.isEmpty else { throw CLIError("no images found in \(args.joined(separator: " "))") }
        return out
    }

    /// `base.png` for each input; two inputs with the same base name are an error unless paths are mirrored.
    static func outputNames(_ paths: [String], roots: [String], keepDirs: Bool) throws -> [String] {
        var seen: [String: String] = [:]
        return try paths.map { p in
            var name = ((p as NSString).lastPathComponent as NSString).deletingPathExtension + ".png"
            if keepDirs, let root = roots.first(where: { p.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }) {
                let rel = String(p.dropFirst(root.count)).trimmingCharacters(in: CharacterSet(charactersIn: "/"))
                name = (rel as NSString).deletingPathExtension + ".png"
            }
            if let other = seen[name] { throw CLIError("\(p) and \(other) would both be written as \(name) (use --keep-dirs)") }
            seen[name] = p
            return name
        }
    }
}

struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ m: String) { description = m }
}
