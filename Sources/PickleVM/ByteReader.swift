// Bounds-checked reading of little-endian fields from untrusted bytes.

/// A cursor over a byte buffer that never reads past its end.
public struct ByteReader {
    public let base: UnsafeRawBufferPointer
    public private(set) var offset: Int

    public init(_ base: UnsafeRawBufferPointer, offset: Int = 0) { self.base = base; self.offset = offset }

    public var remaining: Int { base.count - offset }
    public var atEnd: Bool { offset >= base.count }

    public mutating func u8(_ what: String = "byte") throws -> UInt8 {
        guard offset < base.count else { throw PickleError.truncated(offset: offset, needed: what) }
        defer { offset += 1 }
        return base[offset]
    }

    public mutating func bytes(_ n: Int, _ what: String) throws -> UnsafeRawBufferPointer {
        guard n >= 0, n <= remaining else { throw PickleError.truncated(offset: offset, needed: "\(what) of \(n) bytes") }
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: base[offset..<(offset + n)])
    }

    public mutating func array(_ n: Int, _ what: String) throws -> [UInt8] { Array(try bytes(n, what)) }

    public mutating func uint(_ width: Int, _ what: String) throws -> UInt64 {
        let b = try bytes(width, what)
        var v: UInt64 = 0
        for i in (0..<width).reversed() { v = (v << 8) | UInt64(b[i]) }
        return v
    }

    public mutating func int32(_ what: String) throws -> Int32 { Int32(truncatingIfNeeded: try uint(4, what)) }

    /// Bytes up to (not including) the next `\n`, which is consumed.
    public mutating func line(_ what: String, maxLength: Int = 1 << 20) throws -> [UInt8] {
        let start = offset
        var i = offset
        while i < base.count, base[i] != 0x0A {
            i += 1
            if i - start > maxLength { throw PickleError.limitExceeded("\(what) line longer than \(maxLength) bytes", offset: start) }
        }
        guard i < base.count else { throw PickleError.truncated(offset: start, needed: "\(what) (no newline)") }
        offset = i + 1
        return Array(base[start..<i])
    }

    public mutating func seek(_ to: Int) { offset = max(0, min(to, base.count)) }
}
