// IMAGE... arguments (cli.md): files keep their order; a directory stands for the image files directly inside it,
// sorted by file name in byte order. Output names are the input base names with `.png`.

import Foundation

public struct ImageList: Sendable {
    public static let extensions: Set<String> = ["png", "jpg", "jpeg", "JPEG", "JPG", "PNG"]

    /// The image files, in processing order.
    public let paths: [String]
    /// The directories given on the command line (inputs too: nothing may be written over them).
    public let directories: [String]
    /// The arguments as given.
    public let arguments: [String]

    /// Expands `arguments`; every file and directory must exist and be readable, and at least one image found.
    public init(_ arguments: [String]) throws {
        var paths: [String] = [], directories: [String] = []
        for a in arguments {
            switch FileSystem.kind(a) {
            case .directory?:
                try FileSystem.requireReadableDirectory(a)
                directories.append(a)
                let names: [String]
                do { names = try FileManager.default.contentsOfDirectory(atPath: a) } catch {
                    throw PipelineError(file: a, "cannot list the directory")
                }
                paths += names.filter { ImageList.extensions.contains(($0 as NSString).pathExtension) }
                    .sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
                    .map { (a as NSString).appendingPathComponent($0) }
            case nil:
                throw PipelineError(file: a, "no such file or directory")
            default:
                try FileSystem.requireReadableFile(a)
                paths.append(a)
            }
        }
        guard !paths.isEmpty else {
            throw PipelineError("no image files (\(ImageList.extensions.sorted().joined(separator: " "))) in \(arguments.joined(separator: " "))")
        }
        self.paths = paths
        self.directories = directories
        self.arguments = arguments
    }

    /// This list cut to its first `n` images.
    public func prefix(_ n: Int) -> ImageList { ImageList(paths: Array(paths.prefix(n)), directories: directories, arguments: arguments) }

    init(paths: [String], directories: [String], arguments: [String]) {
        self.paths = paths; self.directories = directories; self.arguments = arguments
    }

    /// `base.png` for each input; two inputs with the same base name are an error unless `keepDirectories`
    /// mirrors the paths below the directory arguments.
    public func outputNames(keepDirectories: Bool) throws -> [String] {
        var seen: [String: String] = [:]
        return try paths.map { p in
            var name = ((p as NSString).lastPathComponent as NSString).deletingPathExtension + ".png"
            if keepDirectories, let root = arguments.first(where: { p.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }) {
                let rel = String(p.dropFirst(root.count)).trimmingCharacters(in: CharacterSet(charactersIn: "/"))
                name = (rel as NSString).deletingPathExtension + ".png"
            }
            if let other = seen[name] {
                throw PipelineError(file: p, "it and \(other) would both be written as \(name) (use --keep-dirs)")
            }
            seen[name] = p
            return name
        }
    }
}
