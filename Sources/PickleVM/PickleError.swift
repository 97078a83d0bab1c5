// Errors of the pickle VM. Messages are one line and say where in the pickle the problem is.

/// An error a hook raises that already says where it happened (one from inside a nested pickle): the unpickler
/// passes it on as it is instead of appending its own offset once more at every level of nesting.
public protocol LocatedHookError: Error {}

public enum PickleError: Error, CustomStringConvertible, Equatable {
    case truncated(offset: Int, needed: String)
    case unknownOpcode(UInt8, offset: Int)
    case rejectedOpcode(String, offset: Int, why: String)
    case unsupportedProtocol(Int, offset: Int)
    case stackUnderflow(String, offset: Int)
    case markMissing(String, offset: Int)
    case memoMissing(UInt64, offset: Int)
    case typeError(String, offset: Int)
    case malformed(String, offset: Int)
    case limitExceeded(String, offset: Int)
    case unhashableKey(String)
    case disallowedGlobals([String])
    case noStop
    case hook(String, offset: Int)

    public var description: String {
        switch self {
        case .truncated(let o, let what): return "pickle truncated at offset \(o) (reading \(what))"
        case .unknownOpcode(let b, let o): return "unknown pickle opcode 0x\(String(format2Hex: b)) at offset \(o)"
        case .rejectedOpcode(let n, let o, let why): return "pickle opcode \(n) at offset \(o) is not accepted: \(why)"
        case .unsupportedProtocol(let p, let o): return "unsupported pickle protocol \(p) at offset \(o) (0 to 5 are known)"
        case .stackUnderflow(let n, let o): return "pickle stack underflow in \(n) at offset \(o)"
        case .markMissing(let n, let o): return "pickle opcode \(n) at offset \(o) needs a MARK and there is none"
        case .memoMissing(let i, let o): return "pickle memo entry \(i) read at offset \(o) was never stored"
        case .typeError(let m, let o): return "pickle type error at offset \(o): \(m)"
        case .malformed(let m, let o): return "malformed pickle at offset \(o): \(m)"
        case .limitExceeded(let m, let o): return "pickle exceeds a safety limit at offset \(o): \(m)"
        case .unhashableKey(let t): return "unhashable dict key: \(t)"
        case .disallowedGlobals(let names):
            return "strict mode refuses globals outside the weights-only allowlist: \(names.joined(separator: ", "))"
        case .noStop: return "pickle ended without STOP"
        case .hook(let m, let o): return "\(m) (pickle offset \(o))"
        }
    }
}
