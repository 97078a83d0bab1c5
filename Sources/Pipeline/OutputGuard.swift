// "Inputs are never written" (cli.md), decided before anything is read: every path a command will write is checked
// against every path it reads, by file identity (device and inode, so `./a.png`, a symbolic link or a hard link to
// it all count as the input), and the outputs against each other. Output directories are created and checked
// writable before compute starts, so that a run never computes for minutes and then fails to save.

import Foundation

public struct OutputGuard {
    private var inputFiles: [(path: String, role: String)] = []
    private var inputDirectories: [(path: String, role: String)] = []
    private var outputFiles: [(path: String, role: String)] = []
    private var outputDirectories: [(path: String, role: String, files: [String])] = []

    public init() {}

    /// A file the command reads (checkpoint, config, codes, image, weights), named by its role in errors.
    public mutating func input(_ path: String, _ role: String) { inputFiles.append((path, role)) }

    /// The images of an IMAGE... list: every file and every directory argument.
    public mutating func inputs(_ images: ImageList) {
        for p in images.paths { inputFiles.append((p, "an input image")) }
        for d in images.directories { inputDirectories.append((d, "an input image directory")) }
    }

    /// A file the command writes (replaced atomically if it exists).
    public mutating func output(_ path: String, _ role: String) { outputFiles.append((path, role)) }

    /// A directory the command writes into; `files` are the names it will create there (each checked too).
    public mutating func outputDirectory(_ path: String, _ role: String, files: [String] = []) {
        outputDirectories.append((path, role, files))
    }

    /// Checks every input exists and is readable, refuses any output that is an input or another output; then creates the output directories (and the
    /// directories holding output files) and checks they are writable.
    public func check() throws {
        for (p, _) in inputFiles { try FileSystem.requireReadableFile(p) }
        for (p, _) in inputDirectories { try FileSystem.requireReadableDirectory(p) }
        var inputs: [FileSystem.Identity: (path: String, role: String)] = [:]
        for (p, role) in inputFiles + inputDirectories {
            if let id = FileSystem.identity(p), inputs[id] == nil { inputs[id] = (p, role) }
        }
        func refuseInput(_ path: String, _ role: String) throws {
            if let id = FileSystem.identity(path), let input = inputs[id] {
                let same = FileSystem.canonical(path) == FileSystem.canonical(input.path) ? "" : " (\(input.path))"
                throw PipelineError(file: path, "\(role) would overwrite \(input.role)\(same); choose another path")
            }
        }
        var written: [String: String] = [:]   // canonical path -> role
        func claim(_ path: String, _ role: String) throws {
            let c = FileSystem.canonical(path)
            if let other = written[c] { throw PipelineError(file: path, "is both \(other) and \(role); give them different paths") }
            written[c] = role
        }
        for (p, role) in outputFiles {
            if FileSystem.kind(p) == .directory { throw PipelineError(file: p, "\(role) is a directory; give a file name") }
            try refuseInput(p, role)
            try claim(p, role)
        }
        for (dir, role, files) in outputDirectories {
            if let k = FileSystem.kind(dir), k != .directory { throw PipelineError(file: dir, "\(role) exists and is not a directory") }
            try refuseInput(dir, role)
            try claim(dir, role)
            for name in files {
                let p = (dir as NSString).appendingPathComponent(name)
                try refuseInput(p, "\(role) (\(name))")
            }
        }
    }

    /// Creates the output directories (and those holding output files) and checks they are writable: the last step
    /// before compute, after the inputs have been read and checked, so that a refused command leaves nothing behind.
    public func prepare() throws {
        for (dir, _, files) in outputDirectories {
            try FileSystem.makeWritableDirectory(dir)
            // Names with sub-directories (`reconstruct --keep-dirs`) need theirs.
            for sub in Set(files.map { ($0 as NSString).deletingLastPathComponent }) where !sub.isEmpty {
                try FileSystem.makeWritableDirectory((dir as NSString).appendingPathComponent(sub))
            }
        }
        for (p, _) in outputFiles { try FileSystem.makeWritableDirectory(FileSystem.parent(of: p)) }
    }
}
