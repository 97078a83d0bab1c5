// numpy values inside checkpoints (spec §6.3): arrays, dtypes and scalars, decoded without numpy.

import PickleVM

/// `numpy.dtype(code)` plus the byte order its BUILD state sets.
public final class NumpyDType: PyNative {
    public let code: String
    public private(set) var byteOrder: String = "="
    init(code: String) { self.code = code }
    public var pythonTypeName: String { "numpy.dtype" }

    func build(_ state: PyValue) {
        if let items = state.sequenceItems, items.count > 1, let order = items[1].stringValue { byteOrder = order }
    }

    /// Element size and kind for the scalar codes (`f8`, `<i4`, `b1`, ...); nil for structured / text dtypes.
    var scalarKind: (kind: Character, size: Int)? {
        var c = code
        if let f = c.first, "<>|=".contains(f) { c.removeFirst() }
        guard let kind = c.first, let size = Int(c.dropFirst()), "fiubc".contains(kind), size > 0, size <= 16 else { return nil }
        return (kind, size)
    }

    var bigEndian: Bool { byteOrder == ">" || code.hasPrefix(">") }

    func scalar(_ raw: [UInt8]) -> PyValue? {
        guard let (kind, size) = scalarKind, raw.count == size else { return nil }
        let bytes = bigEndian ? Array(raw.reversed()) : raw
        func uint() -> UInt64 { bytes.prefix(8).enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) } }
        switch (kind, size) {
        case ("b", 1): return .bool(raw[0] != 0)
        case ("i", _): return .int(Int64(truncatingIfNeeded: uint() << (64 - 8 * UInt64(size))) >> (64 - 8 * Int64(size)))
        case ("u", 8): return uint() <= UInt64(Int64.max) ? .int(Int64(uint())) : .float(Double(uint()))
        case ("u", _): return .int(Int64(uint()))
        case ("f", 2): return .float(halfToDouble(UInt16(uint())))
        case ("f", 4): return .float(Double(Float(bitPattern: UInt32(uint()))))
        case ("f", 8): return .float(Double(bitPattern: uint()))
        case ("c", 8):
            let re = Float(bitPattern: UInt32(uint() & 0xFFFF_FFFF)), im = Float(bitPattern: UInt32(uint() >> 32))
            return .complex(Double(re), Double(im))
        case ("c", 16):
            let lo = Array(raw[0..<8]), hi = Array(raw[8..<16])
            func d(_ b: [UInt8]) -> Double { Double(bitPattern: b.enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }) }
            return .complex(d(lo), d(hi))
        default: return nil
        }
    }
}

/// `numpy.ndarray` rebuilt by `_reconstruct` + BUILD((version, shape, dtype, is_fortran, rawdata)).
public final class NumpyArray: PyNative {
    public private(set) var shape: [Int] = []
    public private(set) var dtype: NumpyDType?
    public private(set) var fortranOrder = false
    /// Raw element bytes (C or Fortran order as flagged), or nil for object arrays.
    public private(set) var raw: [UInt8]?
    /// Object arrays carry a list of Python values.
    public private(set) var objects: [PyValue]?
    public var pythonTypeName: String { "numpy.ndarray" }

    func build(_ state: PyValue) throws {
        guard let items = state.sequenceItems, items.count == 5, let shapeItems = items[1].sequenceItems,
              case .native(let n) = items[2], let dt = n as? NumpyDType else {
            throw CheckpointError.invalid("numpy array state is not (version, shape, dtype, fortran, data)")
        }
        var count = 1
        shape = try shapeItems.map {
            guard let v = $0.intValue, v >= 0, v < Int64(Int32.max) else { throw CheckpointError.invalid("numpy shape entry \(describe($0))") }
            let (c, o) = count.multipliedReportingOverflow(by: Int(v))
            guard !o else { throw CheckpointError.invalid("numpy shape overflows") }
            count = c
            return Int(v)
        }
        dtype = dt
        fortranOrder = items[3].intValue == 1
        switch items[4] {
        case .bytes(let b):
            if let (_, size) = dt.scalarKind, b.count != count.multipliedReportingOverflow(by: size).partialValue
                || count.multipliedReportingOverflow(by: size).overflow {
                throw CheckpointError.invalid("numpy array data has \(b.count) bytes for \(count) elements of \(dt.code)")
            }
            raw = b
        case .list(let l): objects = l.items
        default: throw CheckpointError.invalid("numpy array data is \(items[4].typeName)")
        }
    }

    /// Elements as Double in C order (numeric dtypes only).
    public func doubles() -> [Double]? {
        guard let raw, let dtype, let (_, size) = dtype.scalarKind else { return nil }
        let values: [Double] = stride(from: 0, to: raw.count, by: size).compactMap { dtype.scalar(Array(raw[$0..<($0 + size)]))?.doubleValue }
        guard fortranOrder, shape.count > 1 else { return values }
        // Fortran order: element (i0, i1, ...) sits at i0 + s0*(i1 + s1*(...)).
        var out = [Double](repeating: 0, count: values.count)
        var index = [Int](repeating: 0, count: shape.count)
        for c in 0..<values.count {
            var f = 0, mul = 1
            for d in 0..<shape.count { f += index[d] * mul; mul *= shape[d] }
            out[c] = values[f]
            var d = shape.count - 1
            while d >= 0 { index[d] += 1; if index[d] < shape[d] { break }; index[d] = 0; d -= 1 }
        }
        return out
    }
}
