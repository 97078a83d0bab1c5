// A hardened reader for the zip container of torch.save (spec §2.2, §2.3, §9.5). The central directory is
// authoritative; local headers are checked against it; nothing is extracted to disk.

import CZlib

public struct ZipEntry {
    public let name: String
    public let method: UInt16
    public let flags: UInt16
    public let crc32: UInt32
    public let compressedSize: Int
    public let uncompressedSize: Int
    public let localHeaderOffset: Int
    /// Offset of the payload, from the local header (as torch's `getRecordOffset` reads it).
    public let dataOffset: Int
}

public final class ZipArchive {
    public let file: MappedFile
    public private(set) var entries: [ZipEntry] = []
    private var byName: [String: Int] = [:]
    private var inflated: [String: UnsafeMutableRawBufferPointer] = [:]
    /// Largest inflated record accepted, as a multiple of the whole file (zip bombs, spec H30).
    public static let maxInflateRatio = 1024
    public static let maxInflatedBytes = 1 << 34

    /// The most one deflated record of a file of `fileBytes` bytes may inflate to: 1024 times the file (deflate's
    /// own limit is ~1032), at least 64 MiB, at most 16 GiB.
    public static func inflateCap(fileBytes: Int) -> Int {
        min(maxInflatedBytes, max(1 << 26, fileBytes.multipliedReportingOverflow(by: maxInflateRatio).partialValue))
    }

    public init(file: MappedFile) throws {
        self.file = file
        try parse()
    }

    deinit { for (_, b) in inflated { b.deallocate() } }

    public func entry(_ name: String) -> ZipEntry? { byName[name].map { entries[$0] } }

    /// The record's bytes: a view of the mapping for stored records, an inflated copy (cached) for deflated ones.
    public func data(_ e: ZipEntry) throws -> UnsafeRawBufferPointer {
        if e.method == 0 {
            return UnsafeRawBufferPointer(rebasing: file.bytes[e.dataOffset..<(e.dataOffset + e.uncompressedSize)])
        }
        if let cached = inflated[e.name] { return UnsafeRawBufferPointer(cached) }
        let out = try inflate(e)
        inflated[e.name] = out
        return UnsafeRawBufferPointer(out)
    }

    private func parse() throws {
        let b = file.bytes
        let n = b.count
        guard n >= 22 else { throw CheckpointError.zip("file of \(n) bytes is too short for a zip") }
        // 1. End of central directory: scan backwards over at most the last 22 + 65535 bytes.
        var eocd = -1
        var i = n - 22
        let lowest = max(0, n - 22 - 65535)
        while i >= lowest {
            if b[i] == 0x50, b[i + 1] == 0x4B, b[i + 2] == 5, b[i + 3] == 6 { eocd = i; break }
            i -= 1
        }
        guard eocd >= 0 else { throw CheckpointError.zip("end of central directory not found (truncated file?)") }
        var r = ByteCursor(b, eocd + 4)
        let disk = try r.u16(), cdDisk = try r.u16()
        var count = Int(try r.u16()); let countTotal = Int(try r.u16())
        var cdSize = Int(try r.u32()); var cdOffset = Int(try r.u32())
        guard disk == 0, cdDisk == 0, count == countTotal else { throw CheckpointError.zip("multi-disk archives are not supported") }
        // 2. Zip64 end record, located by the locator just before the EOCD.
        if eocd >= 20, b[eocd - 20] == 0x50, b[eocd - 19] == 0x4B, b[eocd - 18] == 6, b[eocd - 17] == 7 {
            var l = ByteCursor(b, eocd - 12)  // after the signature and the disk number
            let z64 = try l.u64("zip64 locator")
            guard n >= 56, z64 <= UInt64(n - 56) else { throw CheckpointError.zip("zip64 end record offset \(z64) is outside the file") }
            var z = ByteCursor(b, Int(z64))
            guard try z.u32() == 0x06064B50 else { throw CheckpointError.zip("zip64 end record signature missing") }
            z.skip(8 + 2 + 2 + 4 + 4)
            let c64 = try z.u64("entries"); _ = try z.u64("entries total")
            let size64 = try z.u64("cd size"), off64 = try z.u64("cd offset")
            guard c64 <= UInt64(n), size64 <= UInt64(n), off64 <= UInt64(n) else {
                throw CheckpointError.zip("zip64 end record claims \(c64) entries / \(size64) bytes at \(off64), beyond the file")
            }
            count = Int(c64); cdSize = Int(size64); cdOffset = Int(off64)
        }
        guard cdOffset <= n, cdSize <= n - cdOffset else {
            throw CheckpointError.zip("central directory (\(cdSize) bytes at \(cdOffset)) lies outside the file of \(n) bytes")
        }
        // Each central entry takes at least 46 bytes: a count that cannot fit is a lie (spec H31).
        guard count <= cdSize / 46 else { throw CheckpointError.zip("central directory claims \(count) entries in \(cdSize) bytes") }

        // 3. Central directory entries.
        var c = ByteCursor(b, cdOffset)
        var ranges: [(Int, Int, String)] = []
        for _ in 0..<count {
            guard try c.u32() == 0x02014B50 else { throw CheckpointError.zip("central directory entry signature missing at \(c.offset - 4)") }
            c.skip(4)  // made by, needed
            let flags = try c.u16(), method = try c.u16()
            c.skip(4)  // time, date
            let crc = try c.u32()
            var csize = UInt64(try c.u32()), usize = UInt64(try c.u32())
            let nameLen = Int(try c.u16()), extraLen = Int(try c.u16()), commentLen = Int(try c.u16())
            c.skip(8)  // disk start, internal attrs, external attrs
            var lho = UInt64(try c.u32())
            let nameBytes = try c.bytes(nameLen)
            let extra = try c.bytes(extraLen)
            _ = try c.bytes(commentLen)
            // Zip64 extended information: only the fields that are 0xFFFFFFFF, in order usize, csize, offset.
            var x = ByteCursor(extra, 0)
            while x.remaining >= 4 {
                let id = try x.u16(), len = Int(try x.u16())
                let body = try x.bytes(len)
                if id == 1 {
                    var z = ByteCursor(body, 0)
                    if usize == 0xFFFF_FFFF { usize = try z.u64("zip64 usize") }
                    if csize == 0xFFFF_FFFF { csize = try z.u64("zip64 csize") }
                    if lho == 0xFFFF_FFFF { lho = try z.u64("zip64 offset") }
                }
            }
            guard let name = String(validating: nameBytes, as: UTF8.self) else { throw CheckpointError.zip("entry name is not UTF-8") }
            // Bit 0 marks encryption; other flag bits (data descriptor, UTF-8 names...) are harmless (spec H28).
            guard flags & 0x01 == 0 else { throw CheckpointError.zip("entry \(name) is encrypted") }
            // Nothing is ever extracted, but a name that climbs out of its folder is a sign of a crafted archive.
            guard !name.split(separator: "/").contains("..") && !name.hasPrefix("/") else {
                throw CheckpointError.zip("entry name '\(name)' escapes the archive folder")
            }
            guard method == 0 || method == 8 else { throw CheckpointError.zip("entry \(name) uses compression method \(method) (only stored and deflate are supported)") }
            guard byName[name] == nil else { throw CheckpointError.zip("duplicate entry \(name) (loaders disagree on which one counts, so it is refused)") }
            guard usize <= UInt64(Int.max / 2), csize <= UInt64(n), lho < UInt64(n) else {
                throw CheckpointError.zip("entry \(name) has sizes or offset outside the file")
            }
            if method == 0, csize != usize { throw CheckpointError.zip("stored entry \(name) has compressed size \(csize) != size \(usize)") }
            // 4. Local header: signature and name must agree with the central directory.
            var lh = ByteCursor(b, Int(lho))
            guard try lh.u32() == 0x04034B50 else { throw CheckpointError.zip("local header of \(name) missing at \(lho)") }
            lh.skip(22)
            let lnameLen = Int(try lh.u16()), lextraLen = Int(try lh.u16())
            let lname = try lh.bytes(lnameLen)
            guard Array(lname) == Array(nameBytes) else { throw CheckpointError.zip("local header name differs from central directory name \(name)") }
            let dataOffset = Int(lho) + 30 + lnameLen + lextraLen
            guard dataOffset <= n, Int(csize) <= n - dataOffset else {
                throw CheckpointError.zip("entry \(name) (\(csize) bytes at \(dataOffset)) runs past the end of the file")
            }
            ranges.append((Int(lho), dataOffset + Int(csize), name))
            byName[name] = entries.count
            entries.append(ZipEntry(name: name, method: method, flags: flags, crc32: crc, compressedSize: Int(csize),
                                    uncompressedSize: Int(usize), localHeaderOffset: Int(lho), dataOffset: dataOffset))
        }
        // 5. Entries may not overlap (a classic trick to make one payload appear under two names).
        ranges.sort { $0.0 < $1.0 }
        for k in ranges.indices.dropFirst() where ranges[k].0 < ranges[k - 1].1 {
            throw CheckpointError.zip("entries \(ranges[k - 1].2) and \(ranges[k].2) overlap")
        }
    }

    private func inflate(_ e: ZipEntry) throws -> UnsafeMutableRawBufferPointer {
        let cap = ZipArchive.inflateCap(fileBytes: file.bytes.count)
        guard e.uncompressedSize <= cap else {
            throw CheckpointError.zip("deflated entry \(e.name) claims \(e.uncompressedSize) bytes, more than the \(cap)-byte limit")
        }
        // zlib's counters are 32-bit: larger records would need chunked inflation, which no checkpoint has needed.
        guard e.uncompressedSize <= Int(UInt32.max), e.compressedSize <= Int(UInt32.max) else {
            throw CheckpointError.unsupported("deflated entry \(e.name) is larger than 4 GiB")
        }
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: max(e.uncompressedSize, 1), alignment: 64)
        var stream = z_stream()
        guard inflateInit2_(&stream, -15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            out.deallocate(); throw CheckpointError.zip("zlib could not start")
        }
        defer { inflateEnd(&stream) }
        let src = UnsafeRawBufferPointer(rebasing: file.bytes[e.dataOffset..<(e.dataOffset + e.compressedSize)])
        stream.next_in = UnsafeMutablePointer(mutating: src.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(e.compressedSize)
        stream.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
        stream.avail_out = uInt(e.uncompressedSize)
        let status = zlib_inflate(&stream, Z_FINISH)
        // The inflated length must be exactly the declared size: a stream that wants more output is a lie.
        guard status == Z_STREAM_END, Int(stream.total_out) == e.uncompressedSize else {
            out.deallocate()
            throw CheckpointError.zip("deflated entry \(e.name) does not inflate to its declared \(e.uncompressedSize) bytes")
        }
        return out
    }

    /// CRC-32 of a record, for the optional verification mode (torch itself never checks: spec §2.2).
    public func computeCRC32(_ e: ZipEntry) throws -> UInt32 {
        let d = try data(e)
        return UInt32(crc32(0, d.baseAddress?.assumingMemoryBound(to: Bytef.self), uInt(d.count)))
    }
}

@inline(__always) private func zlib_inflate(_ s: inout z_stream, _ flush: Int32) -> Int32 { inflate(&s, flush) }

/// Little-endian field reader with bounds checks, for container headers.
struct ByteCursor {
    let base: UnsafeRawBufferPointer
    var offset: Int
    /// The error of the container being read (zip by default), so a short field is reported as that container's.
    let containerError: (String) -> CheckpointError
    init(_ base: UnsafeRawBufferPointer, _ offset: Int, containerError: @escaping (String) -> CheckpointError = CheckpointError.zip) {
        self.base = base; self.offset = offset; self.containerError = containerError
    }
    var remaining: Int { base.count - offset }
    mutating func skip(_ n: Int) { offset += n }
    mutating func bytes(_ n: Int) throws -> UnsafeRawBufferPointer {
        guard n >= 0, offset >= 0, offset <= base.count, n <= base.count - offset else {
            throw containerError("field of \(n) bytes at offset \(offset) runs past the end")
        }
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: base[offset..<(offset + n)])
    }
    mutating func uint(_ w: Int) throws -> UInt64 {
        let b = try bytes(w)
        var v: UInt64 = 0
        for i in (0..<w).reversed() { v = v << 8 | UInt64(b[i]) }
        return v
    }
    mutating func u16() throws -> UInt16 { UInt16(try uint(2)) }
    mutating func u32() throws -> UInt32 { UInt32(try uint(4)) }
    mutating func u64(_ what: String) throws -> UInt64 { try uint(8) }
}
