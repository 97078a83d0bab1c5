// `.npy` reading and writing (numpy format versions 1.0, 2.0, 3.0), for untrusted input.
//
// Layout (numpy/lib/format.py): magic "\x93NUMPY", major, minor, header length (u16 LE for 1.0, u32 LE for 2.0/3.0),
// an ASCII (3.0: UTF-8) Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded
// with spaces and a final '\n' so that the data starts on a 64-byte boundary, then the raw element bytes.

import Foundation

public enum NPY {
    /// Headers longer than this are refused (numpy itself refuses more than 10000 bytes by default).
    public static let maxHeaderLength = 65536
    /// At most this many dimensions (numpy's NPY_MAXDIMS is 64).
    public static let maxDimensions = 64

    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY

    // MARK: reading

    /// Reads an `.npy` file. Errors name `path`.
    public static func read(path: String) throws -> NPYArray {
        let bytes = try readFile(path)
        return try decode(bytes, name: path)
    }

    /// Decodes `.npy` bytes held in memory; `name` is used in error messages.
    public static func read(data: Data, name: String = "<memory>") throws -> NPYArray {
        try decode([UInt8](data), name: name)
    }

    /// Decodes `.npy` bytes; `name` is used in error messages.
    public static func decode(_ bytes: [UInt8], name: String = "<memory>") throws -> NPYArray {
        let h = try parsePrologue(bytes, name: name)
        let need = try NPYArray.byteCount(shape: h.shape, dtype: h.dtype, file: name)
        let have = bytes.count - h.dataOffset
        guard have >= need else {
            throw NPYError(.truncated, file: name, "truncated .npy: header promises \(need) data bytes, file holds \(have)")
        }
        guard have == need else {
            throw NPYError(.trailingData, file: name, "\(have - need) unexpected bytes after the .npy data")
        }
        var data = Array(bytes[h.dataOffset...])
        if h.bigEndian { swapBytes(&data, unit: h.dtype.swapUnit) }
        if h.fortranOrder && h.shape.count > 1 {
            data = fortranToC(data, shape: h.shape, itemSize: h.dtype.itemSize)
        }
        return NPYArray(validShape: h.shape, dtype: h.dtype, data: data)
    }

    struct Header {
        var dtype: NPYDType
        var bigEndian: Bool
        var fortranOrder: Bool
        var shape: [Int]
        var dataOffset: Int
    }

    /// Parses magic, version and header dict from the start of `bytes` (which may hold only the prologue).
    static func parsePrologue(_ bytes: [UInt8], name: String) throws -> Header {
        guard bytes.count >= 8 else {
            if !bytes.isEmpty && magic.starts(with: bytes.prefix(6)) {
                throw NPYError(.truncated, file: name, "truncated .npy header")
            }
            throw NPYError(.badMagic, file: name, bytes.isEmpty ? "empty file" : "not an .npy file (bad magic)")
        }
        guard Array(bytes[0..<6]) == magic else { throw NPYError(.badMagic, file: name, "not an .npy file (bad magic)") }
        let major = bytes[6], minor = bytes[7]
        let lenSize: Int
        switch (major, minor) {
        case (1, 0): lenSize = 2
        case (2, 0), (3, 0): lenSize = 4
        default: throw NPYError(.badHeader, file: name, "unsupported .npy format version \(major).\(minor)")
        }
        guard bytes.count >= 8 + lenSize else { throw NPYError(.truncated, file: name, "truncated .npy header") }
        var headerLen = 0
        for k in 0..<lenSize { headerLen |= Int(bytes[8 + k]) << (8 * k) }
        guard headerLen <= maxHeaderLength else {
            throw NPYError(.badHeader, file: name, ".npy header length \(headerLen) exceeds the limit \(maxHeaderLength)")
        }
        let start = 8 + lenSize
        guard bytes.count >= start + headerLen else { throw NPYError(.truncated, file: name, "truncated .npy header") }
        let text = Array(bytes[start..<(start + headerLen)])
        // 1.0/2.0 headers are latin-1 (in practice ASCII); 3.0 is UTF-8. Our grammar only admits ASCII anyway.
        var p = HeaderParser(bytes: text, name: name)
        let dict = try p.parse()
        guard Set(dict.keys) == ["descr", "fortran_order", "shape"] else {
            throw NPYError(.badHeader, file: name,
                           "header keys \(dict.keys.sorted()) (expected descr, fortran_order, shape)")
        }
        guard case .string(let descr)? = dict["descr"] else {
            throw NPYError(.unsupportedDType, file: name, "unsupported dtype (descr is not a simple type string)")
        }
        guard let (dtype, big) = NPYDType.parse(descr) else {
            throw NPYError(.unsupportedDType, file: name, "unsupported dtype '\(descr)'")
        }
        guard case .bool(let fortran)? = dict["fortran_order"] else {
            throw NPYError(.badHeader, file: name, "fortran_order is not True/False")
        }
        guard case .tuple(let shape)? = dict["shape"] else {
            throw NPYError(.badHeader, file: name, "shape is not a tuple of integers")
        }
        guard shape.count <= maxDimensions else {
            throw NPYError(.badHeader, file: name, "\(shape.count) dimensions (at most \(maxDimensions))")
        }
        return Header(dtype: dtype, bigEndian: big, fortranOrder: fortran, shape: shape, dataOffset: start + headerLen)
    }

    static func swapBytes(_ data: inout [UInt8], unit: Int) {
        guard unit > 1 else { return }
        data.withUnsafeMutableBufferPointer { b in
            var o = 0
            while o + unit <= b.count {
                var i = o, j = o + unit - 1
                while i < j { b.swapAt(i, j); i += 1; j -= 1 }
                o += unit
            }
        }
    }

    /// Fortran (column-major) element order to C (row-major) order, same logical array.
    static func fortranToC(_ src: [UInt8], shape: [Int], itemSize: Int) -> [UInt8] {
        let n = shape.reduce(1, *)
        guard n > 1, itemSize > 0 else { return src }
        var dst = [UInt8](repeating: 0, count: src.count)
        let nd = shape.count
        // Fortran strides (in elements): stride[0] = 1, stride[k] = stride[k-1] * shape[k-1].
        var fstride = [Int](repeating: 1, count: nd)
        for k in 1..<nd { fstride[k] = fstride[k - 1] * shape[k - 1] }
        var index = [Int](repeating: 0, count: nd)
        var srcElem = 0
        src.withUnsafeBufferPointer { s in
            dst.withUnsafeMutableBufferPointer { d in
                for c in 0..<n {
                    let so = srcElem * itemSize, dstOff = c * itemSize
                    for b in 0..<itemSize { d[dstOff + b] = s[so + b] }
                    // Advance the C-order multi-index (last axis fastest) and the matching Fortran offset.
                    var k = nd - 1
                    while k >= 0 {
                        index[k] += 1; srcElem += fstride[k]
                        if index[k] < shape[k] { break }
                        srcElem -= fstride[k] * shape[k]; index[k] = 0; k -= 1
                    }
                }
            }
        }
        return dst
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        guard let fh = FileHandle(forReadingAtPath: path) else {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDir) {
                throw NPYError(.io, file: path, isDir.boolValue ? "is a directory" : "cannot open file (permission denied?)")
            }
            throw NPYError(.io, file: path, "no such file")
        }
        defer { try? fh.close() }
        do {
            let d = try fh.readToEnd() ?? Data()
            return [UInt8](d)
        } catch {
            throw NPYError(.io, file: path, "read failed: \(error.localizedDescription)")
        }
    }

    // MARK: writing

    /// The header text numpy writes: dict literal padded with spaces, ending in '\n', data 64-byte aligned.
    static func headerBytes(dtype: NPYDType, shape: [Int]) -> [UInt8] {
        let shapeText: String
        switch shape.count {
        case 0: shapeText = "()"
        case 1: shapeText = "(\(shape[0]),)"
        default: shapeText = "(" + shape.map(String.init).joined(separator: ", ") + ")"
        }
        var dict = Array("{'descr': '\(dtype.descr)', 'fortran_order': False, 'shape': \(shapeText), }".utf8)
        // Version 1.0 if the padded header fits a u16, else 2.0 (numpy's rule).
        var version: UInt8 = 1
        var pre = 10
        func padded(_ pre: Int) -> Int { let total = pre + dict.count + 1; return (64 - total % 64) % 64 }
        if dict.count + 1 + padded(10) > 65535 { version = 2; pre = 12 }
        let pad = padded(pre)
        dict += [UInt8](repeating: 0x20, count: pad)
        dict.append(0x0A)
        var out = magic
        out.append(version); out.append(0)
        let n = dict.count
        if version == 1 {
            out += [UInt8(n & 0xff), UInt8(n >> 8)]
        } else {
            out += [UInt8(n & 0xff), UInt8((n >> 8) & 0xff), UInt8((n >> 16) & 0xff), UInt8((n >> 24) & 0xff)]
        }
        return out + dict
    }

    /// The complete `.npy` byte stream of `array`.
    public static func encode(_ array: NPYArray) -> [UInt8] {
        headerBytes(dtype: array.dtype, shape: array.shape) + array.data
    }

    public static func data(_ array: NPYArray) -> Data { Data(encode(array)) }
    public static func data(floats: [Float], shape: [Int]) throws -> Data { data(try NPYArray(floats: floats, shape: shape)) }
    public static func data(doubles: [Double], shape: [Int]) throws -> Data { data(try NPYArray(doubles: doubles, shape: shape)) }
    public static func data(int64s: [Int64], shape: [Int]) throws -> Data { data(try NPYArray(int64s: int64s, shape: shape)) }

    /// Writes `array` to `path` atomically (temporary file in the same directory, then rename).
    public static func write(_ array: NPYArray, to path: String) throws {
        try writeAtomically(encode(array), to: path)
    }
    public static func write(floats: [Float], shape: [Int], to path: String) throws {
        try write(naming(path) { try NPYArray(floats: floats, shape: shape) }, to: path)
    }
    public static func write(doubles: [Double], shape: [Int], to path: String) throws {
        try write(naming(path) { try NPYArray(doubles: doubles, shape: shape) }, to: path)
    }
    public static func write(int64s: [Int64], shape: [Int], to path: String) throws {
        try write(naming(path) { try NPYArray(int64s: int64s, shape: shape) }, to: path)
    }

    /// Re-labels errors raised for in-memory values with the file they were meant for.
    static func naming<T>(_ path: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as NPYError where e.file == "<memory>" {
            throw NPYError(e.kind, file: path, e.message)
        }
    }

    /// Temp file + fsync + rename, so readers never see a half-written file.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        let tmp = dir + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw NPYError(.io, file: path, "cannot create temporary file: \(String(cString: strerror(errno)))") }
        var ok = false
        defer { if !ok { unlink(tmp) } }
        let wrote: Bool = bytes.withUnsafeBytes { buf in
            var off = 0
            while off < buf.count {
                let r = Foundation.write(fd, buf.baseAddress! + off, buf.count - off)
                if r < 0 { if errno == EINTR { continue }; return false }
                off += r
            }
            return true
        }
        let err = errno
        guard wrote else { close(fd); throw NPYError(.io, file: path, "write failed: \(String(cString: strerror(err)))") }
        guard fsync(fd) == 0 || errno == EINVAL else {
            let e = errno; close(fd); throw NPYError(.io, file: path, "fsync failed: \(String(cString: strerror(e)))")
        }
        close(fd)
        guard rename(tmp, path) == 0 else { throw NPYError(.io, file: path, "rename failed: \(String(cString: strerror(errno)))") }
        ok = true
    }
}

// MARK: - header dict parser

enum HeaderValue: Equatable {
    case string(String)
    case bool(Bool)
    case tuple([Int])
    case other
}

/// A strict parser of the tiny Python literal subset numpy headers use: a dict of string keys to strings,
/// True/False, or tuples of non-negative integers. Nothing is evaluated; anything else is an error.
struct HeaderParser {
    let bytes: [UInt8]
    let name: String
    var i = 0

    init(bytes: [UInt8], name: String) { self.bytes = bytes; self.name = name }

    func fail(_ what: String) -> NPYError {
        NPYError(.badHeader, file: name, "malformed .npy header: \(what) at offset \(i)")
    }

    mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0A || bytes[i] == 0x0D { i += 1 }
    }

    mutating func expect(_ c: Character) throws {
        skipSpace()
        guard i < bytes.count, bytes[i] == c.asciiValue! else { throw fail("expected '\(c)'") }
        i += 1
    }

    mutating func peek() -> UInt8? { skipSpace(); return i < bytes.count ? bytes[i] : nil }

    mutating func parse() throws -> [String: HeaderValue] {
        var out: [String: HeaderValue] = [:]
        try expect("{")
        while true {
            guard let c = peek() else { throw fail("unterminated dict") }
            if c == UInt8(ascii: "}") { i += 1; break }
            let key = try parseString()
            try expect(":")
            let value = try parseValue()
            guard out[key] == nil else { throw fail("duplicate key '\(key)'") }
            out[key] = value
            guard let d = peek() else { throw fail("unterminated dict") }
            if d == UInt8(ascii: ",") { i += 1; continue }
            if d == UInt8(ascii: "}") { i += 1; break }
            throw fail("expected ',' or '}'")
        }
        skipSpace()
        // Only padding may follow (spaces and the final newline; some writers pad with NULs).
        while i < bytes.count, bytes[i] == 0 { i += 1 }
        guard i == bytes.count else { throw fail("unexpected text after the dict") }
        return out
    }

    mutating func parseString() throws -> String {
        guard let q = peek(), q == UInt8(ascii: "'") || q == UInt8(ascii: "\"") else { throw fail("expected a string") }
        i += 1
        let start = i
        while i < bytes.count, bytes[i] != q {
            guard bytes[i] >= 0x20, bytes[i] < 0x7f, bytes[i] != UInt8(ascii: "\\") else { throw fail("unsupported character in string") }
            i += 1
        }
        guard i < bytes.count else { throw fail("unterminated string") }
        let s = String(decoding: bytes[start..<i], as: UTF8.self)
        i += 1
        return s
    }

    mutating func parseInt() throws -> Int {
        skipSpace()
        let start = i
        while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 { i += 1 }
        guard i > start else { throw fail("expected an integer") }
        guard i - start <= 18, let v = Int(String(decoding: bytes[start..<i], as: UTF8.self)) else {
            throw NPYError(.overflow, file: name, "dimension too large in .npy header")
        }
        // Python 2 era headers wrote longs as `3L`.
        if i < bytes.count, bytes[i] == UInt8(ascii: "L") { i += 1 }
        return v
    }

    mutating func parseValue() throws -> HeaderValue {
        guard let c = peek() else { throw fail("missing value") }
        switch c {
        case UInt8(ascii: "'"), UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "T"), UInt8(ascii: "F"):
            for (word, v) in [("True", true), ("False", false)] {
                let w = Array(word.utf8)
                if i + w.count <= bytes.count, Array(bytes[i..<(i + w.count)]) == w {
                    i += w.count
                    return .bool(v)
                }
            }
            throw fail("unknown name")
        case UInt8(ascii: "("):
            i += 1
            var dims: [Int] = []
            while true {
                guard let d = peek() else { throw fail("unterminated tuple") }
                if d == UInt8(ascii: ")") { i += 1; break }
                guard dims.count < NPY.maxDimensions + 1 else { throw fail("too many dimensions") }
                dims.append(try parseInt())
                guard let e = peek() else { throw fail("unterminated tuple") }
                if e == UInt8(ascii: ",") { i += 1; continue }
                if e == UInt8(ascii: ")") {
                    // `(3)` is an int in Python, not a tuple: numpy never writes it.
                    guard dims.count != 1 else { throw fail("one-element tuple without a trailing comma") }
                    i += 1; break
                }
                throw fail("expected ',' or ')'")
            }
            return .tuple(dims)
        case UInt8(ascii: "["):
            // A structured dtype descr is a list of tuples: report it as unsupported rather than malformed.
            var depth = 0
            while i < bytes.count {
                if bytes[i] == UInt8(ascii: "[") { depth += 1 }
                if bytes[i] == UInt8(ascii: "]") { depth -= 1; if depth == 0 { i += 1; return .other } }
                i += 1
            }
            throw fail("unterminated list")
        default:
            throw fail("unsupported value")
        }
    }
}
