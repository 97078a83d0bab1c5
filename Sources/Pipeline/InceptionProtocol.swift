// The FID protocols: one network (the 2015-12-05 FID Inception), two input pipelines, so the same images give two
// sets of features and two FIDs (metrics issue). Each is named after the tool whose numbers it reproduces.

import Foundation
import Imaging

public enum InceptionProtocol: String, CaseIterable, Codable, Sendable {
    /// pytorch-fid 0.3.0: `ToTensor`, `F.interpolate(299, bilinear)`, `2x - 1` (vqrt's default, r-FID).
    case pytorchFID = "pytorch-fid"
    /// torch-fidelity 0.4.0 (and torchmetrics' FID/KID, the 1d-tokenizer evaluator, which reuse its extractor): the
    /// bytes as float32, TF1 `resize_bilinear` to 299, `(x - 128) / 128`.
    case torchFidelity = "torch-fidelity"

    /// The input pipeline the network sees under this protocol.
    public var preset: Preset {
        switch self {
        case .pytorchFID: return Preset.inception()
        case .torchFidelity: return Preset.inceptionTorchFidelity()
        }
    }

    /// Which tools' numbers this protocol's values are comparable to.
    public var matches: String {
        switch self {
        case .pytorchFID: return "pytorch-fid 0.3.0"
        case .torchFidelity: return "torch-fidelity 0.4.0 (also torchmetrics' FID/KID and the 1d-tokenizer evaluator)"
        }
    }

    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// One protocol by name, with the accepted names in the error.
    public static func named(_ name: String) throws -> InceptionProtocol {
        guard let p = InceptionProtocol(rawValue: name) else {
            throw PipelineError("unknown protocol '\(name)' (\(names))")
        }
        return p
    }

    /// `pytorch-fid,torch-fidelity`: each known, none twice, in the order given.
    public static func list(_ text: String) throws -> [InceptionProtocol] {
        var out: [InceptionProtocol] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let p = try named(part.trimmingCharacters(in: .whitespaces))
            guard !out.contains(p) else { throw PipelineError("protocol '\(p.rawValue)' is listed twice") }
            out.append(p)
        }
        return out
    }
}
