// torch dtypes, their storage classes and element sizes (spec §4.2).

import PickleVM

public enum DType: String, CaseIterable, Sendable {
    case float32, float64, float16, bfloat16
    case int64, int32, int16, int8, uint8, bool
    case complex64, complex128, complex32
    case qint8, quint8, qint32, quint4x2, quint2x4
    case float8_e4m3fn, float8_e5m2, float8_e4m3fnuz, float8_e5m2fnuz, float8_e8m0fnu, float4_e2m1fn_x2
    case uint16, uint32, uint64
    case bits8, bits16, bits1x8, bits2x4, bits4x2
    case uint1, uint2, uint3, uint4, uint5, uint6, uint7
    case int1, int2, int3, int4, int5, int6, int7

    public var itemSize: Int {
        switch self {
        case .float64, .int64, .complex64, .uint64: return 8
        case .complex128: return 16
        case .float32, .int32, .qint32, .uint32, .complex32: return 4
        case .float16, .bfloat16, .int16, .uint16, .bits16: return 2
        default: return 1
        }
    }

    /// The size of one sign-carrying component, for byte swapping and negation (complex: each half).
    var componentSize: Int {
        switch self {
        case .complex64: return 4
        case .complex128: return 8
        case .complex32: return 2
        default: return itemSize
        }
    }

    public var isComplex: Bool { self == .complex64 || self == .complex128 || self == .complex32 }
    public var isFloatingPoint: Bool {
        switch self {
        case .float32, .float64, .float16, .bfloat16, .float8_e4m3fn, .float8_e5m2, .float8_e4m3fnuz, .float8_e5m2fnuz,
             .float8_e8m0fnu: return true
        default: return false
        }
    }
    public var isSignedInteger: Bool {
        switch self {
        case .int64, .int32, .int16, .int8, .qint8, .qint32: return true
        default: return false
        }
    }

    /// `torch.<name>` globals that denote dtypes (`GLOBAL 'torch float16'`).
    public init?(torchName: String) {
        let aliases: [String: DType] = ["float": .float32, "double": .float64, "half": .float16, "long": .int64,
                                        "int": .int32, "short": .int16, "cfloat": .complex64, "cdouble": .complex128,
                                        "chalf": .complex32]
        if let d = DType(rawValue: torchName) ?? aliases[torchName] { self = d } else { return nil }
    }

    /// Legacy typed-storage class names (`torch.FloatStorage`, also under `torch.cuda`).
    public init?(storageClass: String) {
        let map: [String: DType] = [
            "DoubleStorage": .float64, "FloatStorage": .float32, "HalfStorage": .float16, "BFloat16Storage": .bfloat16,
            "LongStorage": .int64, "IntStorage": .int32, "ShortStorage": .int16, "CharStorage": .int8,
            "ByteStorage": .uint8, "BoolStorage": .bool, "ComplexFloatStorage": .complex64,
            "ComplexDoubleStorage": .complex128, "QInt8Storage": .qint8, "QUInt8Storage": .quint8,
            "QInt32Storage": .qint32, "QUInt4x2Storage": .quint4x2, "QUInt2x4Storage": .quint2x4,
            // In a storage position the untyped storage means bytes (spec §4.2).
            "UntypedStorage": .uint8,
        ]
        guard let d = map[storageClass] else { return nil }
        self = d
    }

    /// The storage class for a global, accepting the module spellings torch accepts (spec §3.3).
    public init?(storageGlobal g: PyGlobal) {
        guard ["torch", "torch.cuda", "torch.storage"].contains(g.module) else { return nil }
        if g.module == "torch.storage", g.name != "UntypedStorage" { return nil }
        self.init(storageClass: g.name)
    }

    public init?(global g: PyGlobal) {
        guard g.module == "torch" else { return nil }
        self.init(torchName: g.name)
    }

    /// The safetensors dtype codes.
    public init?(safetensors code: String) {
        let map: [String: DType] = ["F64": .float64, "F32": .float32, "F16": .float16, "BF16": .bfloat16,
                                    "I64": .int64, "I32": .int32, "I16": .int16, "I8": .int8, "U8": .uint8,
                                    "BOOL": .bool, "U16": .uint16, "U32": .uint32, "U64": .uint64,
                                    "F8_E4M3": .float8_e4m3fn, "F8_E5M2": .float8_e5m2, "C64": .complex64,
                                    "E8M0": .float8_e8m0fnu]
        guard let d = map[code] else { return nil }
        self = d
    }
}
