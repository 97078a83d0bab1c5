// The in-memory array: shape, scalar type and raw little-endian C-order bytes, with typed accessors.

/// Scalar types read from `.npy` files. Data held by `NPYArray` is always little-endian and C order, whatever the
/// file said (big-endian and Fortran-order files are converted on read).
public enum NPYDType: Equatable, Hashable, Sendable, CustomStringConvertible {
    case bool       // b1
    case int8, int16, int32, int64
    case uint8, uint16, uint32, uint64
    case float16, float32, float64
    /// numpy `<U n`: fixed-width UTF-32 strings of `n` code points (zero padded).
    case unicode(Int)
    /// numpy `|S n`: fixed-width byte strings of `n` bytes (zero padded).
    case bytes(Int)

    /// Bytes per element.
    public var itemSize: Int {
        switch self {
        case .bool, .int8, .uint8: return 1
        case .int16, .uint16, .float16: return 2
        case .int32, .uint32, .float32: return 4
        case .int64, .uint64, .float64: return 8
        case .unicode(let n): return 4 * n
        case .bytes(let n): return n
        }
    }

    /// Size of the unit whose byte order a big-endian file reverses (the whole item for numbers, one code point for
    /// unicode, nothing for bytes).
    var swapUnit: Int {
        switch self {
        case .unicode: return 4
        case .bytes, .bool, .int8, .uint8: return 1
        default: return itemSize
        }
    }

    /// The numpy `descr` string this array is written with (little-endian).
    public var descr: String {
        switch self {
        case .bool: return "|b1"
        case .int8: return "|i1"
        case .uint8: return "|u1"
        case .int16: return "<i2"
        case .int32: return "<i4"
        case .int64: return "<i8"
        case .uint16: return "<u2"
        case .uint32: return "<u4"
        case .uint64: return "<u8"
        case .float16: return "<f2"
        case .float32: return "<f4"
        case .float64: return "<f8"
        case .unicode(let n): return "<U\(n)"
        case .bytes(let n): return "|S\(n)"
        }
    }

    public var description: String { descr }

    public var isFloatingPoint: Bool { self == .float16 || self == .float32 || self == .float64 }
    public var isInteger: Bool {
        switch self {
        case .bool, .int8, .int16, .int32, .int64, .uint8, .uint16, .uint32, .uint64: return true
        default: return false
        }
    }

    /// Parses a numpy descr such as `<f4`, `>i8`, `|u1`, `=f8`, `<U12`. Returns the type and whether the file data is
    /// big-endian. Nil for anything we do not support.
    static func parse(_ s: String) -> (NPYDType, bigEndian: Bool)? {
        let chars = Array(s.utf8)
        guard chars.count >= 2 else { return nil }
        var i = 0
        var order: UInt8 = UInt8(ascii: "=")
        if [UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "|"), UInt8(ascii: "=")].contains(chars[0]) {
            order = chars[0]; i = 1
        }
        guard i < chars.count else { return nil }
        let kind = chars[i]; i += 1
        let digits = chars[i...]
        guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy({ $0 >= 48 && $0 <= 57 }),
              let size = Int(String(decoding: digits, as: UTF8.self)) else { return nil }
        let big = order == UInt8(ascii: ">")
        let t: NPYDType
        switch (kind, size) {
        case (UInt8(ascii: "b"), 1): t = .bool
        case (UInt8(ascii: "i"), 1): t = .int8
        case (UInt8(ascii: "i"), 2): t = .int16
        case (UInt8(ascii: "i"), 4): t = .int32
        case (UInt8(ascii: "i"), 8): t = .int64
        case (UInt8(ascii: "u"), 1): t = .uint8
        case (UInt8(ascii: "u"), 2): t = .uint16
        case (UInt8(ascii: "u"), 4): t = .uint32
        case (UInt8(ascii: "u"), 8): t = .uint64
        case (UInt8(ascii: "f"), 2): t = .float16
        case (UInt8(ascii: "f"), 4): t = .float32
        case (UInt8(ascii: "f"), 8): t = .float64
        case (UInt8(ascii: "U"), let n) where n >= 0 && n <= 1 << 20: t = .unicode(n)
        case (UInt8(ascii: "S"), let n) where n >= 0 && n <= 1 << 22: t = .bytes(n)
        default: return nil
        }
        // '|' (not applicable) is only meaningful for types without a byte order.
        if order == UInt8(ascii: "|") && t.swapUnit != 1 { return nil }
        return (t, big)
    }
}

/// An n-dimensional array as stored in an `.npy` file: C order, little-endian bytes.
public struct NPYArray: Equatable, Sendable {
    public let shape: [Int]
    public let dtype: NPYDType
    /// Raw little-endian element bytes in C order; `data.count == count * dtype.itemSize`.
    public let data: [UInt8]

    /// Number of elements (product of the shape; 1 for a 0-d array).
    public var count: Int { shape.reduce(1, *) }

    /// Validating initialiser: the byte count must equal the shape product times the item size.
    public init(shape: [Int], dtype: NPYDType, data: [UInt8]) throws {
        let n = try NPYArray.byteCount(shape: shape, dtype: dtype, file: "<memory>")
        guard n == data.count else {
            throw NPYError(.shapeMismatch, file: "<memory>",
                           "\(data.count) data bytes for shape \(shape) of \(dtype.descr) (expected \(n))")
        }
        self.shape = shape; self.dtype = dtype; self.data = data
    }

    /// Unchecked (internal callers have validated already).
    init(validShape shape: [Int], dtype: NPYDType, data: [UInt8]) {
        self.shape = shape; self.dtype = dtype; self.data = data
    }

    public init(floats: [Float], shape: [Int]) throws {
        try self.init(shape: shape, dtype: .float32, data: try NPYArray.packed(floats, shape: shape))
    }
    public init(doubles: [Double], shape: [Int]) throws {
        try self.init(shape: shape, dtype: .float64, data: try NPYArray.packed(doubles, shape: shape))
    }
    public init(int64s: [Int64], shape: [Int]) throws {
        try self.init(shape: shape, dtype: .int64, data: try NPYArray.packed(int64s, shape: shape))
    }
    public init(int32s: [Int32], shape: [Int]) throws {
        try self.init(shape: shape, dtype: .int32, data: try NPYArray.packed(int32s, shape: shape))
    }
    public init(uint8s: [UInt8], shape: [Int]) throws {
        try self.init(shape: shape, dtype: .uint8, data: try NPYArray.packed(uint8s, shape: shape))
    }

    /// A 1-d array of fixed-width unicode strings (`<U n`, n = longest string in code points), as numpy stores
    /// `np.array(["a", "bc"])`.
    public init(strings: [String]) {
        let scalars = strings.map { Array($0.unicodeScalars) }
        let width = max(1, scalars.map(\.count).max() ?? 1)
        var bytes = [UInt8](repeating: 0, count: strings.count * width * 4)
        for (k, s) in scalars.enumerated() {
            for (j, u) in s.enumerated() {
                let v = u.value, o = (k * width + j) * 4
                bytes[o] = UInt8(v & 0xff); bytes[o + 1] = UInt8((v >> 8) & 0xff)
                bytes[o + 2] = UInt8((v >> 16) & 0xff); bytes[o + 3] = UInt8(v >> 24)
            }
        }
        self.init(validShape: [strings.count], dtype: .unicode(width), data: bytes)
    }

    static func packed<T>(_ values: [T], shape: [Int]) throws -> [UInt8] {
        var product = 1
        for d in shape {
            guard d >= 0 else { throw NPYError(.shapeMismatch, file: "<memory>", "negative dimension in shape \(shape)") }
            let (p, o) = product.multipliedReportingOverflow(by: d)
            guard !o else { throw NPYError(.overflow, file: "<memory>", "shape \(shape) overflows") }
            product = p
        }
        guard product == values.count else {
            throw NPYError(.shapeMismatch, file: "<memory>", "\(values.count) values for shape \(shape) (\(product) elements)")
        }
        // Little-endian host (x86-64, arm64): the in-memory representation is the file representation.
        return values.withUnsafeBytes { Array($0) }
    }

    /// Element count × item size, overflow-checked.
    static func byteCount(shape: [Int], dtype: NPYDType, file: String) throws -> Int {
        var product = 1
        for d in shape {
            guard d >= 0 else { throw NPYError(.badHeader, file: file, "negative dimension in shape \(shape)") }
            let (p, o) = product.multipliedReportingOverflow(by: d)
            guard !o else { throw NPYError(.overflow, file: file, "shape \(shape) overflows") }
            product = p
        }
        let (n, o) = product.multipliedReportingOverflow(by: dtype.itemSize)
        guard !o else { throw NPYError(.overflow, file: file, "byte size of shape \(shape) × \(dtype.itemSize) overflows") }
        return n
    }

    // MARK: typed accessors

    private func load<T>(_: T.Type) -> [T] {
        let n = data.count / MemoryLayout<T>.size
        return [T](unsafeUninitializedCapacity: n) { buf, initialized in
            data.withUnsafeBytes { src in
                if n > 0 { UnsafeMutableRawBufferPointer(buf).copyMemory(from: UnsafeRawBufferPointer(rebasing: src[0..<n * MemoryLayout<T>.size])) }
            }
            initialized = n
        }
    }

    private func mismatch(_ want: String) -> NPYError {
        NPYError(.typeMismatch, file: "<memory>", "array of dtype \(dtype.descr) cannot be read as \(want)")
    }

    /// Values converted to Float (from any float, integer or bool dtype; float64 and large integers are rounded).
    public func floats() throws -> [Float] {
        switch dtype {
        case .float32: return load(Float.self)
        case .float64: return load(Double.self).map { Float($0) }
        case .float16: return load(UInt16.self).map { NPYArray.halfToFloat($0) }
        default: return try doublesFromInts().map { Float($0) }
        }
    }

    /// Values converted to Double (exact for every float dtype and integers up to 2^53).
    public func doubles() throws -> [Double] {
        switch dtype {
        case .float64: return load(Double.self)
        case .float32: return load(Float.self).map { Double($0) }
        case .float16: return load(UInt16.self).map { Double(NPYArray.halfToFloat($0)) }
        default: return try doublesFromInts()
        }
    }

    private func doublesFromInts() throws -> [Double] {
        switch dtype {
        case .uint64: return load(UInt64.self).map { Double($0) }
        default: return try int64s().map { Double($0) }
        }
    }

    /// Values of an integer or bool array as Int64 (error for float arrays, and for uint64 values above Int64.max).
    public func int64s() throws -> [Int64] {
        switch dtype {
        case .int64: return load(Int64.self)
        case .int32: return load(Int32.self).map { Int64($0) }
        case .int16: return load(Int16.self).map { Int64($0) }
        case .int8: return load(Int8.self).map { Int64($0) }
        case .uint32: return load(UInt32.self).map { Int64($0) }
        case .uint16: return load(UInt16.self).map { Int64($0) }
        case .uint8: return data.map { Int64($0) }
        case .bool: return data.map { $0 != 0 ? 1 : 0 }
        case .uint64:
            let u = load(UInt64.self)
            var out = [Int64](); out.reserveCapacity(u.count)
            for v in u {
                guard let s = Int64(exactly: v) else {
                    throw NPYError(.typeMismatch, file: "<memory>", "uint64 value \(v) does not fit in int64")
                }
                out.append(s)
            }
            return out
        default: throw mismatch("int64")
        }
    }

    /// Raw bytes of a uint8 / int8 / bool array.
    public func uint8s() throws -> [UInt8] {
        switch dtype {
        case .uint8, .int8, .bool: return data
        default: throw mismatch("uint8")
        }
    }

    /// Strings of a `<U n` or `|S n` array (trailing NULs stripped; bytes decoded as UTF-8 with replacement).
    public func strings() throws -> [String] {
        switch dtype {
        case .unicode(let w):
            var out: [String] = []
            out.reserveCapacity(count)
            for k in 0..<(w == 0 ? count : data.count / (4 * w)) {
                var s = String.UnicodeScalarView()
                for j in 0..<w {
                    let o = (k * w + j) * 4
                    let v = UInt32(data[o]) | UInt32(data[o + 1]) << 8 | UInt32(data[o + 2]) << 16 | UInt32(data[o + 3]) << 24
                    if v == 0 { break }
                    s.append(Unicode.Scalar(v) ?? "\u{FFFD}")
                }
                out.append(String(s))
            }
            return out
        case .bytes(let w):
            var out: [String] = []
            for k in 0..<(w == 0 ? count : data.count / w) {
                var b = Array(data[(k * w)..<((k + 1) * w)])
                while let l = b.last, l == 0 { b.removeLast() }
                out.append(String(decoding: b, as: UTF8.self))
            }
            return out
        default: throw mismatch("strings")
        }
    }

    /// IEEE 754 binary16 → binary32 (exact).
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exp = Int((h >> 10) & 0x1f)
        let mant = UInt32(h & 0x3ff)
        if exp == 0x1f { return Float(bitPattern: sign | 0x7f80_0000 | (mant << 13)) }
        if exp == 0 {
            // Subnormal (or zero): mant × 2^-24, exact in float32.
            let v = Float(mant) * Float(bitPattern: 0x3380_0000)
            return sign != 0 ? -v : v
        }
        return Float(bitPattern: sign | UInt32(exp - 15 + 127) << 23 | (mant << 13))
    }
}
