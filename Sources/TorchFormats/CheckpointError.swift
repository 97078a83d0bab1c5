// Loader errors: one line each, naming what is wrong and, where it helps, what to do.

public enum CheckpointError: Error, CustomStringConvertible {
    case io(String)
    case unknownFormat(String)
    case zip(String)
    case legacy(String)
    case tar(String)
    case safetensors(String)
    case invalid(String)
    case unsupported(String)
    case pickle(String)
    case noStateDict(String)

    public var description: String {
        switch self {
        case .io(let m): return m
        case .unknownFormat(let m): return "not a PyTorch checkpoint: \(m)"
        case .zip(let m): return "bad zip checkpoint: \(m)"
        case .legacy(let m): return "bad legacy checkpoint: \(m)"
        case .tar(let m): return "bad legacy tar checkpoint: \(m)"
        case .safetensors(let m): return "bad safetensors file: \(m)"
        case .invalid(let m): return "invalid tensor data: \(m)"
        case .unsupported(let m): return "unsupported: \(m)"
        case .pickle(let m): return m
        case .noStateDict(let m): return "no model weights found: \(m)"
        }
    }
}
