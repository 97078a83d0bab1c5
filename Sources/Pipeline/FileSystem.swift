// File-system checks with one-line errors (POSIX calls and strerror, never Foundation's NSError texts).

import Foundation

public enum FileSystem {
    public enum Kind: Sendable { case file, directory, other }

    /// What `path` is (symbolic links followed), or nil if nothing is there.
    public static func kind(_ path: String) -> Kind? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return .file
        case S_IFDIR: return .directory
        default: return .other
        }
    }

    /// The file `path` names (device and inode, symbolic links followed): two paths name the same file exactly when
    /// their identities are equal, however they are spelled.
    public struct Identity: Hashable, Sendable {
        let device: UInt64, inode: UInt64
    }

    public static func identity(_ path: String) -> Identity? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Identity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }

    /// An existing, readable regular file (`role` says what it is for, in the error).
    public static func requireReadableFile(_ path: String) throws {
        guard let k = kind(path) else { throw PipelineError(file: path, "no such file") }
        guard k != .directory else { throw PipelineError(file: path, "is a directory, not a file") }
        guard access(path, R_OK) == 0 else { throw PipelineError(file: path, "cannot be read: \(errorText())") }
    }

    /// An existing directory whose entries can be listed.
    public static func requireReadableDirectory(_ path: String) throws {
        guard let k = kind(path) else { throw PipelineError(file: path, "no such directory") }
        guard k == .directory else { throw PipelineError(file: path, "is not a directory") }
        guard access(path, R_OK | X_OK) == 0 else { throw PipelineError(file: path, "cannot be read: \(errorText())") }
    }

    /// Creates `path` and its missing parents (like `mkdir -p`) and checks files can be created in it.
    public static func makeWritableDirectory(_ path: String) throws {
        if let k = kind(path) {
            guard k == .directory else { throw PipelineError(file: path, "exists and is not a directory") }
        } else {
            let parent = (path as NSString).deletingLastPathComponent
            if !parent.isEmpty && parent != path && kind(parent) == nil { try makeWritableDirectory(parent) }
            if mkdir(path, 0o755) != 0 && errno != EEXIST {
                throw PipelineError(file: path, "cannot create directory: \(errorText())")
            }
        }
        guard access(path, W_OK | X_OK) == 0 else { throw PipelineError(file: path, "cannot write into it: \(errorText())") }
    }

    /// Names the directory that holds `path` ("." for a bare file name).
    public static func parent(of path: String) -> String {
        let p = (path as NSString).deletingLastPathComponent
        return p.isEmpty ? "." : p
    }

    /// `path` with symbolic links and `.`/`..` resolved as far as it exists, the rest appended: a spelling-independent
    /// name for a path that may not exist yet.
    public static func canonical(_ path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var existing = absolute, rest: [String] = []
        while kind(existing) == nil, existing != "/" {
            rest.insert((existing as NSString).lastPathComponent, at: 0)
            existing = (existing as NSString).deletingLastPathComponent
            if existing.isEmpty { existing = "/" }
        }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let resolved = realpath(existing, &buffer).map { String(cString: $0) } ?? existing
        return ([resolved] + rest).reduce("") { $0.isEmpty ? $1 : ($0 as NSString).appendingPathComponent($1) }
    }

    /// Removes what a killed atomic write of `path` left behind (`.NAME.tmp-*` beside it: see NPY and ImageEncoder).
    public static func removeTemporaries(of path: String) {
        let dir = parent(of: path), prefix = "." + (path as NSString).lastPathComponent + ".tmp-"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        for name in names where name.hasPrefix(prefix) { unlink((dir as NSString).appendingPathComponent(name)) }
    }

    /// Writes `text` to `path` atomically (a temporary file beside it, then a rename).
    public static func writeAtomically(_ text: String, to path: String) throws {
        let tmp = parent(of: path) + "/." + (path as NSString).lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw PipelineError(file: path, "cannot create file: \(errorText())") }
        var done = false
        defer { if !done { unlink(tmp) } }
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let r = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if r < 0 { if errno == EINTR { continue }; let e = errorText(); close(fd); throw PipelineError(file: path, "write failed: \(e)") }
            offset += r
        }
        close(fd)
        guard rename(tmp, path) == 0 else { throw PipelineError(file: path, "cannot write: \(errorText())") }
        done = true
    }

    static func errorText() -> String { String(cString: strerror(errno)) }
}
