// What every VQ family offers: encode an image batch to latents and codes, decode codes to images.

import Imaging
import Tensor
import TorchFormats

/// The result of encoding a batch.
public struct Encoded {
    /// The tensor the quantizer receives, before any normalisation the quantizer applies itself (cli.md):
    /// rt-vqvae / ldm-vqgan `[N, C, h, w]`, vit-vqgan `[N, T, C]`.
    public let latents: Tensor
    /// Code indices, row-major per image: `[N, h, w]` (vit-vqgan: `[N, 32, 32]` from its token grid).
    public let codes: [Int]
    public let codeShape: [Int]
    /// Squared distance between each quantizer input and its chosen code, in the quantizer's own space.
    public let quantizationError: [Float]
}

public protocol VQModel: AnyObject {
    var family: ModelFamily { get }
    /// Hyper-parameters, for reports.
    var summary: [(String, String)] { get }
    var codebookSize: Int { get }
    /// The preprocessing preset that reproduces the family's upstream evaluation pipeline.
    var preset: Preset { get }
    /// `x`: `[N, 3, H, W]` in the model's input space (after the preset).
    func encode(_ x: Tensor) throws -> Encoded
    /// `codes` of shape `codeShape` (`[N, h, w]`) to `[N, 3, H, W]` in the model's output space.
    func decode(codes: [Int], shape: [Int]) throws -> Tensor
}

extension VQModel {
    /// encode then decode the chosen codes.
    public func reconstruct(_ x: Tensor) throws -> (Encoded, Tensor) {
        let e = try encode(x)
        return (e, try decode(codes: e.codes, shape: e.codeShape))
    }

    func checkCodes(_ codes: [Int], shape: [Int]) throws {
        guard shape.count == 3, shape.allSatisfy({ $0 > 0 }), shape.reduce(1, *) == codes.count else {
            throw ModelError.badCodes("codes of shape \(shape) do not hold \(codes.count) indices")
        }
        if let bad = codes.first(where: { $0 < 0 || $0 >= codebookSize }) {
            throw ModelError.badCodes("code index \(bad) is outside the codebook of \(codebookSize) entries")
        }
    }
}

public enum ModelError: Error, CustomStringConvertible {
    case unknownFamily(String)
    case badConfig(String)
    case badCodes(String)
    case badInput(String)

    public var description: String {
        switch self {
        case .unknownFamily(let m):
            return "cannot tell the model family: \(m) (pass --family \(ModelFamily.allCases.map(\.rawValue).joined(separator: "|")))"
        case .badConfig(let m): return "model configuration: \(m)"
        case .badCodes(let m): return m
        case .badInput(let m): return m
        }
    }
}

/// Per-row squared distance between `a` and `b` (both `[R, D]`).
func rowSquaredDistances(_ a: Tensor, _ b: Tensor) -> [Float] {
    let pa = a.plain(), pb = b.plain()
    let d = pa.shape.last ?? 1
    let rows = pa.count / d
    var out = [Float](repeating: 0, count: rows)
    for r in 0..<rows {
        var s: Float = 0
        for j in 0..<d { let t = pa.pointer[r * d + j] - pb.pointer[r * d + j]; s += t * t }
        out[r] = s
    }
    return out
}
