// Per-image feature rows kept on disk while an evaluation runs (KID needs every feature, not a running statistic):
// a float32 `.npy` [rows, width] beside the shard's partial file, appended batch by batch so memory stays at one
// batch. The partial file is the record of how many rows count: rows are flushed to disk before each save of the
// state, so the file always holds at least the rows the state names, and a resumed run cuts off whatever a killed
// run wrote after its last save. The header (fixed size, rewritten at each save) makes the file `np.load`-able.

import Foundation

public final class FeatureRows {
    public let path: String
    public let width: Int
    public private(set) var rows: Int
    private var fd: Int32
    /// One fixed-size version-1.0 header: room for any row count, data 64-byte aligned as numpy writes it.
    static let headerSize = 128

    /// Opens (creating if needed) the row file at `path` holding exactly `rows` rows of `width` floats: rows past
    /// them (written after the last save of a killed run) are cut off. Fewer rows than `rows` means the file is not
    /// the one the state was saved with.
    public init(path: String, width: Int, rows: Int) throws {
        self.path = path
        self.width = width
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw PipelineError(file: path, "cannot open: \(FileSystem.errorText())") }
        self.rows = rows
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw PipelineError(file: path, "cannot read: \(FileSystem.errorText())") }
        let need = FeatureRows.headerSize + rows * width * 4
        if rows > 0 {
            guard Int(st.st_size) >= need else {
                close(fd); fd = -1
                throw PipelineError(file: path, "holds \(max(0, (Int(st.st_size) - FeatureRows.headerSize) / (width * 4))) feature rows, the partial state says \(rows); pass --restart to start the run again")
            }
            try FeatureRows.checkHeader(fd, path: path, width: width)
        }
        guard ftruncate(fd, off_t(need)) == 0 else { throw PipelineError(file: path, "cannot resize: \(FileSystem.errorText())") }
        try writeHeader()
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Appends rows (row-major, a multiple of `width` values).
    public func append(_ values: UnsafeBufferPointer<Float>) throws {
        guard values.count % width == 0 else { throw PipelineError(file: path, "internal: \(values.count) values are not rows of \(width)") }
        try write(UnsafeRawBufferPointer(values), at: FeatureRows.headerSize + rows * width * 4)
        rows += values.count / width
    }

    public func append(_ values: [Float]) throws { try values.withUnsafeBufferPointer { try append($0) } }

    /// Puts the header right and flushes the rows to disk: call before saving the state that counts them.
    public func sync() throws {
        try writeHeader()
        guard fsync(fd) == 0 || errno == EINVAL else { throw PipelineError(file: path, "fsync failed: \(FileSystem.errorText())") }
    }

    /// The first `rows` rows of the file at `path` (row-major float32), checked against its header.
    public static func read(path: String, width: Int, rows: Int) throws -> [Float] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw PipelineError(file: path, "cannot open the feature rows of this shard: \(FileSystem.errorText())") }
        defer { close(fd) }
        try checkHeader(fd, path: path, width: width)
        var out = [Float](repeating: 0, count: rows * width)
        let bytes = rows * width * 4
        var done = 0
        try out.withUnsafeMutableBytes { buf in
            while done < bytes {
                let r = pread(fd, buf.baseAddress! + done, bytes - done, off_t(headerSize + done))
                if r < 0 && errno == EINTR { continue }
                guard r > 0 else { throw PipelineError(file: path, "holds fewer than the \(rows) feature rows the partial state names") }
                done += r
            }
        }
        return out
    }

    /// The file at `path` is a row file of `width` holding at least `rows` rows.
    public static func check(path: String, width: Int, rows: Int) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw PipelineError(file: path, "cannot open the feature rows of this shard (KID needs them beside the partial file): \(FileSystem.errorText())") }
        defer { close(fd) }
        try checkHeader(fd, path: path, width: width)
        var st = stat()
        guard fstat(fd, &st) == 0, Int(st.st_size) >= headerSize + rows * width * 4 else {
            throw PipelineError(file: path, "holds fewer than the \(rows) feature rows the partial state names")
        }
    }

    /// numpy's version-1.0 header for `[rows, width]` float32, padded with spaces to `headerSize` bytes.
    static func header(rows: Int, width: Int) -> [UInt8] {
        let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(rows), \(width)), }"
        var body = Array(dict.utf8)
        body += [UInt8](repeating: 0x20, count: headerSize - 10 - body.count - 1) + [0x0A]
        let n = body.count
        return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(n & 0xff), UInt8(n >> 8)] + body
    }

    private static func checkHeader(_ fd: Int32, path: String, width: Int) throws {
        var h = [UInt8](repeating: 0, count: headerSize)
        let r = h.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, headerSize, 0) }
        let prefix = Array(header(rows: 0, width: width).prefix(10))
        let text = String(decoding: h.dropFirst(10), as: UTF8.self)
        guard r == headerSize, Array(h.prefix(10)) == prefix, text.contains("'descr': '<f4'"), text.contains(", \(width)), }") else {
            throw PipelineError(file: path, "not a feature-row file of this run (float32 rows of \(width)); pass --restart to start the run again")
        }
    }

    private func writeHeader() throws {
        let h = FeatureRows.header(rows: rows, width: width)
        try h.withUnsafeBytes { try write($0, at: 0) }
    }

    private func write(_ buf: UnsafeRawBufferPointer, at offset: Int) throws {
        var done = 0
        while done < buf.count {
            let r = pwrite(fd, buf.baseAddress! + done, buf.count - done, off_t(offset + done))
            if r < 0 {
                if errno == EINTR { continue }
                throw PipelineError(file: path, "write failed: \(FileSystem.errorText())")
            }
            done += r
        }
    }
}
