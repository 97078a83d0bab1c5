// A float32 `.npy` written row block by row block, for outputs too large to hold (the raw decoder outputs of a
// 50,000-image run are 39 GB). The leading dimension is known only at the end (unreadable images are skipped), so
// the header is written with room to spare and rewritten with the final shape before the temporary file is renamed
// into place: readers never see a partial file, and memory stays at one block.
import Foundation

public final class NPYStreamWriter {
    public let path: String
    /// Shape of one row (everything but the leading dimension).
    public let rowShape: [Int]
    private let temporary: String
    private var fd: Int32
    private var rows = 0
    /// Bytes reserved for the header: room for any leading dimension, a multiple of 64 as numpy aligns it.
    private let headerSpace: Int

    public init(path: String, rowShape: [Int]) throws {
        self.path = path
        self.rowShape = rowShape
        let url = URL(fileURLWithPath: path)
        temporary = url.deletingLastPathComponent().path + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        // The widest header this file can need: leading dimension with 19 digits (Int.max).
        let widest = NPY.headerBytes(dtype: .float32, shape: [Int.max] + rowShape).count
        headerSpace = (widest + 63) / 64 * 64
        fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw NPYError(.io, file: path, "cannot create temporary file: \(String(cString: strerror(errno)))") }
        try write(header(rows: 0), at: 0)
    }

    deinit {
        if fd >= 0 { close(fd); unlink(temporary) }   // never finished: no output
    }

    /// Appends `values.count / rowSize` rows (C order).
    public func append(_ values: UnsafeBufferPointer<Float>) throws {
        let rowSize = rowShape.reduce(1, *)
        guard rowSize > 0, values.count % rowSize == 0 else {
            throw NPYError(.io, file: path, "\(values.count) values do not make whole rows of \(rowShape)")
        }
        try write(UnsafeRawBufferPointer(values), at: headerSpace + rows * rowSize * 4)
        rows += values.count / rowSize
    }

    /// Writes the final header, flushes and renames the file into place.
    public func finish() throws {
        try write(header(rows: rows), at: 0)
        guard fsync(fd) == 0 || errno == EINVAL else { throw NPYError(.io, file: path, "fsync failed: \(String(cString: strerror(errno)))") }
        close(fd)
        fd = -1
        guard rename(temporary, path) == 0 else {
            let e = errno
            unlink(temporary)
            throw NPYError(.io, file: path, "rename failed: \(String(cString: strerror(e)))")
        }
    }

    /// numpy's header for `rows` rows, padded with spaces to `headerSpace` bytes (a longer header that still ends in
    /// '\n' is valid .npy: the data starts where the stated header length says).
    private func header(rows: Int) -> [UInt8] {
        var h = NPY.headerBytes(dtype: .float32, shape: [rows] + rowShape)
        let extra = headerSpace - h.count
        guard extra > 0 else { return h }
        let lengthBytes = h[6] == 1 ? 2 : 4
        let length = h[8..<(8 + lengthBytes)].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) } + extra
        for i in 0..<lengthBytes { h[8 + i] = UInt8((length >> (8 * i)) & 0xff) }
        h.removeLast()                                          // the '\n'
        h += [UInt8](repeating: 0x20, count: extra) + [0x0A]
        return h
    }

    private func write(_ bytes: [UInt8], at offset: Int) throws {
        try bytes.withUnsafeBytes { try write($0, at: offset) }
    }

    private func write(_ buf: UnsafeRawBufferPointer, at offset: Int) throws {
        var done = 0
        while done < buf.count {
            let r = pwrite(fd, buf.baseAddress! + done, buf.count - done, off_t(offset + done))
            if r < 0 {
                if errno == EINTR { continue }
                throw NPYError(.io, file: path, "write failed: \(String(cString: strerror(errno)))")
            }
            done += r
        }
    }
}
