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

    /// `base.png` for each input; two inputs with the same base name are an error unless `keepDirectories`, which
    /// names each output by its input's path below the deepest directory all inputs share (`a/x.jpg`, `b/x.jpg` ->
    /// `a/x.png`, `b/x.png`).
    public func outputNames(keepDirectories: Bool) throws -> [String] {
        let parents = paths.map { (FileSystem.canonical($0) as NSString).deletingLastPathComponent }
        var common = parents.first.map { $0.split(separator: "/", omittingEmptySubsequences: true).map(String.init) } ?? []
        for p in parents.dropFirst() {
            let parts = p.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
            common = Array(zip(common, parts).prefix { $0.0 == $0.1 }.map(\.0))
        }
        var seen: [String: String] = [:]
        return try paths.enumerated().map { i, p in
            let base = ((p as NSString).lastPathComponent as NSString).deletingPathExtension + ".png"
            var name = base
            if keepDirectories {
                let below = parents[i].split(separator: "/", omittingEmptySubsequences: true).dropFirst(common.count)
                name = (below + [Substring(base)]).joined(separator: "/")
            }
            if let other = seen[name] {
                throw PipelineError(file: p, "it and \(other) would both be written as \(name)\(keepDirectories ? "" : " (use --keep-dirs)")")
            }
            seen[name] = p
            return name
        }
    }
}
