// Element decoding: every stored dtype to Double / Float / Int64, little-endian on disk after byte swapping.

@inline(__always) func loadLE<T: FixedWidthInteger>(_ p: UnsafeRawPointer, _ offset: Int, as: T.Type) -> T {
    T(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: T.self))
}

/// A small float format with `exponentBits`/`mantissaBits`, as used by the float8 family (spec §10 item 7).
struct MiniFloat {
    let exponentBits: Int
    let mantissaBits: Int
    let bias: Int
    /// e4m3fn: no infinities, NaN only for all-ones; fnuz: no negative zero, 0x80 is the only NaN.
    let kind: Kind
    enum Kind { case ieee, finiteOnly, fnuz, exponentOnly }

    static let e4m3fn = MiniFloat(exponentBits: 4, mantissaBits: 3, bias: 7, kind: .finiteOnly)
    static let e5m2 = MiniFloat(exponentBits: 5, mantissaBits: 2, bias: 15, kind: .ieee)
    static let e4m3fnuz = MiniFloat(exponentBits: 4, mantissaBits: 3, bias: 8, kind: .fnuz)
    static let e5m2fnuz = MiniFloat(exponentBits: 5, mantissaBits: 2, bias: 16, kind: .fnuz)
    static let e8m0 = MiniFloat(exponentBits: 8, mantissaBits: 0, bias: 127, kind: .exponentOnly)

    func decode(_ b: UInt8) -> Double {
        if kind == .exponentOnly { return b == 0xFF ? .nan : Double(sign: .plus, exponent: Int(b) - bias, significand: 1) }
        if kind == .fnuz, b == 0x80 { return .nan }
        let sign: Double = b & 0x80 != 0 ? -1 : 1
        let e = Int(b >> mantissaBits) & ((1 << exponentBits) - 1)
        let m = Int(b) & ((1 << mantissaBits) - 1)
        let maxE = (1 << exponentBits) - 1
        switch kind {
        case .ieee where e == maxE: return m == 0 ? sign * .infinity : .nan
        case .finiteOnly where e == maxE && m == (1 << mantissaBits) - 1: return .nan
        default: break
        }
        let frac = Double(m) / Double(1 << mantissaBits)
        if e == 0 { return sign * frac * Double(sign: .plus, exponent: 1 - bias, significand: 1) }
        return sign * (1 + frac) * Double(sign: .plus, exponent: e - bias, significand: 1)
    }
}

func halfToDouble(_ bits: UInt16) -> Double { Double(Float(Float16(bitPattern: bits))) }
func bfloat16ToFloat(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }

extension DType {
    /// The real value of one element at `p + offset` (little-endian bytes). Complex dtypes give the real part.
    @inline(__always) func double(_ p: UnsafeRawPointer, _ o: Int) -> Double {
        switch self {
        case .float32, .complex64: return Double(Float(bitPattern: loadLE(p, o, as: UInt32.self)))
        case .float64, .complex128: return Double(bitPattern: loadLE(p, o, as: UInt64.self))
        case .float16, .complex32: return halfToDouble(loadLE(p, o, as: UInt16.self))
        case .bfloat16: return Double(bfloat16ToFloat(loadLE(p, o, as: UInt16.self)))
        case .int64: return Double(loadLE(p, o, as: Int64.self))
        case .int32, .qint32: return Double(loadLE(p, o, as: Int32.self))
        case .int16: return Double(loadLE(p, o, as: Int16.self))
        case .int8, .qint8: return Double(Int8(bitPattern: p.load(fromByteOffset: o, as: UInt8.self)))
        case .uint16, .bits16: return Double(loadLE(p, o, as: UInt16.self))
        case .uint32: return Double(loadLE(p, o, as: UInt32.self))
        case .uint64: return Double(loadLE(p, o, as: UInt64.self))
        case .bool: return p.load(fromByteOffset: o, as: UInt8.self) != 0 ? 1 : 0
        case .float8_e4m3fn: return MiniFloat.e4m3fn.decode(p.load(fromByteOffset: o, as: UInt8.self))
        case .float8_e5m2: return MiniFloat.e5m2.decode(p.load(fromByteOffset: o, as: UInt8.self))
        case .float8_e4m3fnuz: return MiniFloat.e4m3fnuz.decode(p.load(fromByteOffset: o, as: UInt8.self))
        case .float8_e5m2fnuz: return MiniFloat.e5m2fnuz.decode(p.load(fromByteOffset: o, as: UInt8.self))
        case .float8_e8m0fnu: return MiniFloat.e8m0.decode(p.load(fromByteOffset: o, as: UInt8.self))
        default: return Double(p.load(fromByteOffset: o, as: UInt8.self))
        }
    }

    /// The imaginary part of a complex element.
    @inline(__always) func imaginary(_ p: UnsafeRawPointer, _ o: Int) -> Double {
        isComplex ? double(p, o + componentSize) : 0
    }

    /// An integer element (floats truncate toward zero, as `.long()` does).
    @inline(__always) func int64(_ p: UnsafeRawPointer, _ o: Int) -> Int64 {
        switch self {
        case .int64: return loadLE(p, o, as: Int64.self)
        case .uint64: return Int64(bitPattern: loadLE(p, o, as: UInt64.self))
        case .int32, .qint32: return Int64(loadLE(p, o, as: Int32.self))
        case .int16: return Int64(loadLE(p, o, as: Int16.self))
        case .int8, .qint8: return Int64(Int8(bitPattern: p.load(fromByteOffset: o, as: UInt8.self)))
        case .uint16, .bits16: return Int64(loadLE(p, o, as: UInt16.self))
        case .uint32: return Int64(loadLE(p, o, as: UInt32.self))
        case .bool: return p.load(fromByteOffset: o, as: UInt8.self) != 0 ? 1 : 0
        case _ where isFloatingPoint || isComplex:
            let d = double(p, o)
            return d.isFinite && abs(d) < 9.2e18 ? Int64(d) : 0
        default: return Int64(p.load(fromByteOffset: o, as: UInt8.self))
        }
    }
}
