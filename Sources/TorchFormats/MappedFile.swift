// A read-only memory mapping of a whole file: stored zip records are used in place, never copied (spec §4.4 item 10).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public final class MappedFile {
    public let path: String
    public let bytes: UnsafeRawBufferPointer
    private let mapping: UnsafeMutableRawPointer?

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw CheckpointError.io("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw CheckpointError.io("cannot stat \(path)") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw CheckpointError.io("\(path) is not a regular file") }
        let size = Int(st.st_size)
        if size == 0 {
            mapping = nil
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else { throw CheckpointError.io("cannot map \(path): \(String(cString: strerror(errno)))") }
        mapping = p
        bytes = UnsafeRawBufferPointer(start: p, count: size)
    }

    /// Bytes held in memory (tests and nested `_load_from_bytes` blobs).
    public init(bytes: [UInt8], name: String) {
        path = name
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 64)
        bytes.withUnsafeBytes { if let b = $0.baseAddress { p.copyMemory(from: b, byteCount: bytes.count) } }
        mapping = nil
        owned = p
        self.bytes = UnsafeRawBufferPointer(start: p, count: bytes.count)
    }
    private var owned: UnsafeMutableRawPointer?

    /// Lets the kernel drop the mapping's pages from this process's resident set (they stay in the page cache and
    /// are faulted back in, unchanged, if read again): a read-only private mapping that is never written has no
    /// private copies to lose. Called once a model has copied its weights out, so that the checkpoint does not
    /// count twice in the process's memory.
    public func releaseResidentPages() {
        if let mapping { _ = madvise(mapping, bytes.count, MADV_DONTNEED) }
    }

    deinit {
        if let mapping { munmap(mapping, bytes.count) }
        owned?.deallocate()
    }
}
