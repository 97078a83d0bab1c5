// `.npz` reading and writing through libzip: a zip archive of `<name>.npy` members, stored (np.savez) or deflated
// (np.savez_compressed). Written archives load with numpy.load and pytorch-fid (`f["mu"][:]`).

import CDeflate
import CZip
import Foundation

/// The arrays of an `.npz` archive, in archive order.
public struct NPZArchive: Sendable {
    /// Array names (member names without `.npy`), in archive order.
    public private(set) var names: [String] = []
    public private(set) var arrays: [String: NPYArray] = [:]

    public init() {}
    public init(_ items: [(String, NPYArray)]) { for (n, a) in items { self[n] = a } }

    public subscript(name: String) -> NPYArray? {
        get { arrays[name] }
        set {
            if let v = newValue {
                if arrays[name] == nil { names.append(name) }
                arrays[name] = v
            } else if arrays.removeValue(forKey: name) != nil {
                names.removeAll { $0 == name }
            }
        }
    }

    /// The array `name`, or an error naming `file` and the missing member.
    public func array(_ name: String, file: String = "<memory>") throws -> NPYArray {
        guard let a = arrays[name] else {
            throw NPYError(.missingEntry, file: file, "no array '\(name)' in .npz (has: \(names.joined(separator: ", ")))")
        }
        return a
    }
}

public enum NPZ {
    /// Largest plausible expansion of a deflate stream (the format's limit is about 1032:1).
    static let maxDeflateRatio = 1100

    /// Reads an `.npz` file. `only`: if given, members not in the set are skipped without being decompressed.
    public static func read(path: String, only: Set<String>? = nil) throws -> NPZArchive {
        var st = stat()
        if stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG && st.st_size == 0 {
            throw NPYError(.zip, file: path, "empty file (not an .npz archive)")
        }
        // Through a read-only mapping of the file: libzip's file source reads in small pieces, several times
        // slower on a pytorch-fid sigma's 32 MB than copying from the mapping.
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd >= 0 {
            defer { close(fd) }
            var fs = stat()
            if fstat(fd, &fs) == 0, (fs.st_mode & S_IFMT) == S_IFREG, fs.st_size > 0,
               let map = mmap(nil, Int(fs.st_size), PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED {
                defer { munmap(map, Int(fs.st_size)) }
                var err = zip_error_t()
                zip_error_init(&err)
                defer { zip_error_fini(&err) }
                guard let src = zip_source_buffer_create(map, zip_uint64_t(fs.st_size), 0, &err) else {
                    throw NPYError(.zip, file: path, "cannot read .npz: \(String(cString: zip_error_strerror(&err)))")
                }
                guard let za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &err) else {
                    zip_source_free(src)
                    throw NPYError(.zip, file: path, "cannot open .npz: \(String(cString: zip_error_strerror(&err)))")
                }
                defer { zip_discard(za) }   // before the unmapping (defers run in reverse order)
                return try readArchive(za, name: path, only: only)
            }
        }
        var code: Int32 = 0
        guard let za = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &code) else {
            throw NPYError(code == ZIP_ER_NOENT ? .io : .zip, file: path, "cannot open .npz: \(zipMessage(code: code))")
        }
        defer { zip_discard(za) }
        return try readArchive(za, name: path, only: only)
    }

    /// Reads an `.npz` held in memory; `name` is used in error messages.
    public static func read(data: Data, name: String = "<memory>", only: Set<String>? = nil) throws -> NPZArchive {
        // libzip opens an empty buffer as an empty archive; numpy (zipfile) refuses it, and so do we.
        guard !data.isEmpty else { throw NPYError(.zip, file: name, "empty file (not an .npz archive)") }
        var err = zip_error_t()
        zip_error_init(&err)
        defer { zip_error_fini(&err) }
        // libzip takes ownership of a malloc'd copy (freep = 1), so the archive never outlives its bytes.
        guard let buf = malloc(max(1, data.count)) else {
            throw NPYError(.io, file: name, "out of memory for \(data.count) bytes")
        }
        data.withUnsafeBytes { if $0.count > 0 { memcpy(buf, $0.baseAddress!, $0.count) } }
        guard let src = zip_source_buffer_create(buf, zip_uint64_t(data.count), 1, &err) else {
            free(buf)
            throw NPYError(.zip, file: name, "cannot read .npz: \(String(cString: zip_error_strerror(&err)))")
        }
        guard let za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &err) else {
            zip_source_free(src)
            throw NPYError(.zip, file: name, "cannot open .npz: \(String(cString: zip_error_strerror(&err)))")
        }
        defer { zip_discard(za) }
        return try readArchive(za, name: name, only: only)
    }

    static func zipMessage(code: Int32) -> String {
        var err = zip_error_t()
        zip_error_init_with_code(&err, code)
        defer { zip_error_fini(&err) }
        return String(cString: zip_error_strerror(&err))
    }

    static func archiveMessage(_ za: OpaquePointer) -> String { String(cString: zip_strerror(za)) }

    static func readArchive(_ za: OpaquePointer, name: String, only: Set<String>?) throws -> NPZArchive {
        let n = zip_get_num_entries(za, 0)
        guard n >= 0 else { throw NPYError(.zip, file: name, "bad .npz: \(archiveMessage(za))") }
        var out = NPZArchive()
        for idx in 0..<zip_uint64_t(n) {
            var st = zip_stat_t()
            zip_stat_init(&st)
            guard zip_stat_index(za, idx, 0, &st) == 0, st.valid & zip_uint64_t(ZIP_STAT_NAME) != 0, let cname = st.name else {
                throw NPYError(.zip, file: name, "bad .npz member \(idx): \(archiveMessage(za))")
            }
            let member = String(cString: cname)
            guard member.hasSuffix(".npy") else { continue }   // numpy exposes other members as raw bytes; we skip them
            let key = String(member.dropLast(4))
            if let only, !only.contains(key) { continue }
            guard out[key] == nil else { throw NPYError(.zip, file: name, "duplicate .npz member '\(member)'") }
            out[key] = try readMember(za, index: idx, stat: st, file: "\(name)[\(key)]")
        }
        return out
    }

    static func readMember(_ za: OpaquePointer, index: zip_uint64_t, stat st: zip_stat_t, file: String) throws -> NPYArray {
        let hasSize = st.valid & zip_uint64_t(ZIP_STAT_SIZE) != 0
        let hasComp = st.valid & zip_uint64_t(ZIP_STAT_COMP_SIZE) != 0
        let declared = hasSize ? st.size : 0
        if hasSize && hasComp && st.valid & zip_uint64_t(ZIP_STAT_COMP_METHOD) != 0 {
            // A member that claims to expand beyond what its compressed bytes can hold is refused before reading.
            let limit = st.comp_size.multipliedReportingOverflow(by: zip_uint64_t(maxDeflateRatio))
            if st.comp_method == ZIP_CM_STORE && st.size != st.comp_size {
                throw NPYError(.zip, file: file, "stored member size \(st.size) != compressed size \(st.comp_size)")
            }
            if !limit.overflow && st.size > limit.partialValue + 4096 {
                throw NPYError(.zip, file: file, "member claims \(st.size) bytes from \(st.comp_size) compressed bytes")
            }
        }
        if let whole = try inflateWhole(za, index: index, stat: st, file: file) {
            return try NPY.decode(whole, name: file)
        }
        guard let zf = zip_fopen_index(za, index, 0) else {
            throw NPYError(.zip, file: file, "cannot open member: \(archiveMessage(za))")
        }
        defer { zip_fclose(zf) }

        var bytes: [UInt8] = []
        func readMore(_ want: Int) throws -> Int {
            let old = bytes.count
            bytes.append(contentsOf: repeatElement(0, count: want))
            let got = bytes.withUnsafeMutableBytes { zip_fread(zf, $0.baseAddress! + old, zip_uint64_t(want)) }
            guard got >= 0 else {
                bytes.removeLast(want)
                throw NPYError(.zip, file: file, "read failed: \(String(cString: zip_file_strerror(zf)))")
            }
            bytes.removeLast(want - Int(got))
            return Int(got)
        }
        // Prologue: magic + version + length, then the header itself.
        var want = 12
        while bytes.count < want { if try readMore(want - bytes.count) == 0 { break } }
        if bytes.count >= 10, bytes[6] == 1 { want = 10 + (Int(bytes[8]) | Int(bytes[9]) << 8) }
        else if bytes.count >= 12 {
            want = 12 + (Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24)
        }
        want = min(want, 12 + NPY.maxHeaderLength)
        while bytes.count < want { if try readMore(want - bytes.count) == 0 { break } }
        let h = try NPY.parsePrologue(bytes, name: file)
        let need = try NPYArray.byteCount(shape: h.shape, dtype: h.dtype, file: file)
        let (total, o) = h.dataOffset.addingReportingOverflow(need)
        guard !o else { throw NPYError(.overflow, file: file, "array size overflows") }
        if hasSize && UInt64(total) != declared {
            throw NPYError(UInt64(total) > declared ? .truncated : .trailingData, file: file,
                           "header promises \(total) bytes, zip member holds \(declared)")
        }
        // Grow with the data actually delivered (never allocate what the header merely claims).
        bytes.reserveCapacity(min(total, 1 << 28))
        while bytes.count < total {
            let got = try readMore(min(total - bytes.count, 1 << 24))
            if got == 0 {
                throw NPYError(.truncated, file: file,
                               "truncated .npy: header promises \(need) data bytes, member holds \(bytes.count - h.dataOffset)")
            }
        }
        // Read to the end so libzip verifies the CRC, and so that extra bytes are noticed.
        var probe = [UInt8](repeating: 0, count: 1)
        let extra = probe.withUnsafeMutableBytes { zip_fread(zf, $0.baseAddress!, 1) }
        guard extra == 0 else {
            if extra < 0 { throw NPYError(.zip, file: file, "read failed: \(String(cString: zip_file_strerror(zf)))") }
            throw NPYError(.trailingData, file: file, "unexpected bytes after the .npy data")
        }
        return try NPY.decode(bytes, name: file)
    }

    /// Largest expansion the one-buffer path takes on trust: the output buffer is allocated from the declared size
    /// before inflating, so it is only done when that size is within this ratio of the compressed bytes (which
    /// exist: they are read first). Arrays of floats deflate by ~1.05:1; larger ratios take the streaming path,
    /// which grows with the data actually produced.
    static let wholeBufferRatio: zip_uint64_t = 16

    /// A deflated member inflated in one call of libdeflate (several times zlib's streaming speed; a pytorch-fid
    /// sigma is 32 MB of barely compressible float64, where inflating dominates reading), its CRC-32 checked; nil where the member is not such a
    /// member (stored, encrypted, sizes or CRC unknown, or a large declared ratio), for the streaming path.
    static func inflateWhole(_ za: OpaquePointer, index: zip_uint64_t, stat st: zip_stat_t, file: String) throws -> [UInt8]? {
        let needed = zip_uint64_t(ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD | ZIP_STAT_CRC
                                  | ZIP_STAT_ENCRYPTION_METHOD)
        guard st.valid & needed == needed, st.comp_method == ZIP_CM_DEFLATE, st.encryption_method == ZIP_EM_NONE,
              st.size <= st.comp_size * wholeBufferRatio + (1 << 20), st.size < zip_uint64_t(Int.max / 2) else { return nil }
        guard let zf = zip_fopen_index(za, index, zip_flags_t(ZIP_FL_COMPRESSED)) else {
            throw NPYError(.zip, file: file, "cannot open member: \(archiveMessage(za))")
        }
        defer { zip_fclose(zf) }
        // The raw deflate stream, read straight into a buffer of its declared size (capped: a larger member takes
        // the streaming path; the pages of a buffer that a short member leaves unfilled are never touched).
        guard st.comp_size <= 1 << 30 else { return nil }
        var readError: String? = nil
        let compressed = [UInt8](unsafeUninitializedCapacity: Int(st.comp_size)) { buffer, count in
            count = 0
            while count < buffer.count {
                let got = zip_fread(zf, buffer.baseAddress! + count, zip_uint64_t(buffer.count - count))
                if got < 0 { readError = String(cString: zip_file_strerror(zf)); return }
                if got == 0 { break }
                count += Int(got)
            }
        }
        if let readError { throw NPYError(.zip, file: file, "read failed: \(readError)") }
        guard zip_uint64_t(compressed.count) == st.comp_size else {
            throw NPYError(.truncated, file: file, "member holds \(compressed.count) of its \(st.comp_size) compressed bytes")
        }
        guard let decompressor = libdeflate_alloc_decompressor() else {
            throw NPYError(.zip, file: file, "out of memory for a decompressor")
        }
        defer { libdeflate_free_decompressor(decompressor) }
        let size = Int(st.size)
        var produced = 0
        var result = LIBDEFLATE_SUCCESS
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            result = compressed.withUnsafeBytes {
                libdeflate_deflate_decompress(decompressor, $0.baseAddress, $0.count, buffer.baseAddress, size, &produced)
            }
            count = result == LIBDEFLATE_SUCCESS ? produced : 0
        }
        switch result {
        case LIBDEFLATE_SUCCESS: break
        case LIBDEFLATE_INSUFFICIENT_SPACE:
            throw NPYError(.trailingData, file: file, "member inflates to more than its declared \(size) bytes")
        default:
            throw NPYError(.zip, file: file, "bad deflate data in member")
        }
        guard produced == size else {
            throw NPYError(.truncated, file: file, "member inflates to \(produced) bytes, declared \(size)")
        }
        let crc = bytes.withUnsafeBytes { libdeflate_crc32(0, $0.baseAddress, $0.count) }
        guard crc == st.crc else { throw NPYError(.zip, file: file, "CRC error in member") }
        return bytes
    }

    // MARK: writing

    /// Writes `archive` as an `.npz` (members `<name>.npy`, deflated when `compressed`, as np.savez_compressed;
    /// stored otherwise, as np.savez). Atomic: written to a temporary file in the same directory, then renamed.
    public static func write(_ archive: NPZArchive, to path: String, compressed: Bool = true) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        let tmp = dir + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        var code: Int32 = 0
        guard let za = zip_open(tmp, ZIP_CREATE | ZIP_EXCL, &code) else {
            throw NPYError(.io, file: path, "cannot create .npz: \(zipMessage(code: code))")
        }
        var closed = false
        defer { if !closed { zip_discard(za) }; unlink(tmp) }
        for name in archive.names {
            guard let a = archive[name] else { continue }
            let bytes = NPY.encode(a)
            guard let buf = malloc(max(1, bytes.count)) else {
                throw NPYError(.io, file: path, "out of memory for '\(name)'")
            }
            bytes.withUnsafeBytes { if $0.count > 0 { memcpy(buf, $0.baseAddress!, $0.count) } }
            guard let src = zip_source_buffer(za, buf, zip_uint64_t(bytes.count), 1) else {
                free(buf)
                throw NPYError(.zip, file: path, "cannot add '\(name)': \(archiveMessage(za))")
            }
            let idx = zip_file_add(za, name + ".npy", src, ZIP_FL_ENC_UTF_8)
            guard idx >= 0 else {
                zip_source_free(src)
                throw NPYError(.zip, file: path, "cannot add '\(name)': \(archiveMessage(za))")
            }
            let method: Int32 = compressed ? ZIP_CM_DEFLATE : ZIP_CM_STORE
            guard zip_set_file_compression(za, zip_uint64_t(idx), method, 0) == 0 else {
                throw NPYError(.zip, file: path, "cannot set compression: \(archiveMessage(za))")
            }
            // A fixed timestamp keeps the output byte-identical from run to run (1980-01-02, the DOS epoch + 1 day).
            _ = zip_file_set_mtime(za, zip_uint64_t(idx), 315_619_200, 0)
        }
        guard zip_close(za) == 0 else {
            throw NPYError(.io, file: path, "cannot write .npz: \(archiveMessage(za))")
        }
        closed = true
        if archive.names.isEmpty {
            // libzip writes nothing for an empty archive; numpy writes the 22-byte end-of-central-directory record.
            try NPY.writeAtomically([0x50, 0x4b, 0x05, 0x06] + [UInt8](repeating: 0, count: 18), to: path)
            return
        }
        guard rename(tmp, path) == 0 else {
            throw NPYError(.io, file: path, "rename failed: \(String(cString: strerror(errno)))")
        }
    }

    /// Convenience: writes the named arrays in the given order.
    public static func write(_ items: [(String, NPYArray)], to path: String, compressed: Bool = true) throws {
        try write(NPZArchive(items), to: path, compressed: compressed)
    }
}
