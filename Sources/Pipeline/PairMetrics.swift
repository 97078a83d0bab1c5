// The metrics computed on pairs of 8-bit images (original, reconstruction) and the settings behind them: the SSIM
// definitions the reports carry, the LPIPS network a command asks for, KID's subsets.

import Foundation
import Imaging
import Metrics
import Models
import Tensor
import TorchFormats

/// The SSIM definitions `eval` and `compare` report, each named after the implementation it reproduces
/// (README "Paper metrics").
public enum SSIMDefinitions {
    public struct Definition: Sendable {
        /// The report key.
        public let key: String
        public let ssim: StructuralSimilarity
        /// Which tool's number it reproduces, for report.md.
        public let matches: String
    }

    public static let all: [Definition] = [
        Definition(key: "torchmetrics", ssim: try! StructuralSimilarity(variant: .torchmetrics),
                   matches: "torchmetrics 1.9 `StructuralSimilarityIndexMeasure(data_range=1.0)`: Gaussian 11/1.5 on [0, 1], reflect-padded, whole map"),
        Definition(key: "pytorch-msssim", ssim: try! StructuralSimilarity(variant: .pytorchMSSSIM),
                   matches: "pytorch_msssim `ssim(data_range=1)`: Gaussian 11/1.5 on [0, 1], valid region (the classic definition)"),
        Definition(key: "skimage", ssim: try! StructuralSimilarity(variant: .skimage),
                   matches: "scikit-image `structural_similarity(channel_axis=-1, data_range=255)` on uint8: 7x7 uniform window"),
        Definition(key: "llamagen", ssim: StructuralSimilarity.llamaGen,
                   matches: "LlamaGen's tokenizer evaluator: scikit-image on [0, 1] images with `data_range=2.0`"),
    ]
}

/// The LPIPS network a command asks for: torchvision backbone weights by path, lin weights bundled or by path.
public struct LPIPSSource: Sendable {
    public let net: LPIPS.Net
    public let backbone: String
    /// nil: the bundled lin weights (Resources/lpips).
    public let linear: String?

    public init(net: LPIPS.Net, backbone: String, linear: String?) {
        self.net = net; self.backbone = backbone; self.linear = linear
    }

    /// torch hub's cache path of the net's torchvision file (where torchvision, and so the `lpips` package, keeps it).
    public static func torchHubPath(_ net: LPIPS.Net) -> String {
        ((InceptionWeights.torchHubPath as NSString).deletingLastPathComponent as NSString)
            .appendingPathComponent(LPIPSWeights.backbone(net).fileName)
    }

    /// The lin weights file this run reads.
    public func linearPath() throws -> String {
        if let linear { return linear }
        do { return try LPIPSWeights.bundledLinearPath(net) } catch { throw PipelineError("\(error)") }
    }

    /// Both files exist and are readable; a missing backbone says where torchvision's file comes from.
    public func requireFiles() throws {
        if FileSystem.kind(backbone) == nil { throw PipelineError("\(LPIPSError.backboneNotFound(net: net, path: backbone))") }
        try FileSystem.requireReadableFile(backbone)
        try FileSystem.requireReadableFile(try linearPath())
    }

    public func register(in guard_: inout OutputGuard) {
        guard_.input(backbone, "the LPIPS backbone weights")
        if let linear { guard_.input(linear, "the LPIPS lin weights") }
    }

    public func load() throws -> LPIPS {
        do {
            return try LPIPSWeights.load(net: net, backbonePath: backbone, linearPath: try linearPath())
        } catch let e as PipelineError {
            throw e
        } catch {
            throw PipelineError("\(error)".replacingOccurrences(of: "\n", with: " "))
        }
    }

    /// What decides its values: the net and both files' contents.
    public func identity() throws -> LPIPSIdentity {
        let lin = try linearPath()
        return LPIPSIdentity(net: net.rawValue, backbone: FileSystem.canonical(backbone),
                             backboneSHA256: try naming(backbone) { try Hashing.sha256(file: backbone) },
                             linear: FileSystem.canonical(lin), linearSHA256: try naming(lin) { try Hashing.sha256(file: lin) })
    }
}

extension LPIPS {
    /// LPIPS of each pair; pairs of one size go through the backbone together (a batch holds one size per call).
    public func distances(pairs a: [RGBImage], _ b: [RGBImage]) throws -> [Double] {
        var out: [Double] = []
        var start = 0
        while start < a.count {
            var end = start + 1
            while end < a.count, a[end].width == a[start].width, a[end].height == a[start].height { end += 1 }
            out += try distances(a: Array(a[start..<end]), b: Array(b[start..<end]))
            start = end
        }
        return out
    }
}

/// KID's settings (torch-fidelity's defaults: 100 subsets of 1000, seed 2020).
public struct KIDSettings: Codable, Equatable, Sendable {
    public var subsets: Int
    /// nil: torch-fidelity's 1000, or the smaller set's size when a set is smaller.
    public var subsetSize: Int?

    public init(subsets: Int = KernelInceptionDistance.defaultSubsets, subsetSize: Int? = nil) {
        self.subsets = subsets; self.subsetSize = subsetSize
    }

    /// A subset size asked for explicitly must fit both sets (torch-fidelity refuses it too); checked before compute.
    /// So must one subset's Gram matrices fit in memory.
    public func check(countA: Int, countB: Int, names: (String, String) = ("A", "B")) throws {
        if let m = subsetSize {
            for (n, name) in [(countA, names.0), (countB, names.1)] where m > n {
                throw PipelineError("--kid-subset-size \(m) is larger than \(name) (\(n) images); give at most \(n), or leave it out to use min(1000, n)")
            }
        }
        _ = try workers(countA: countA, countB: countB)
    }

    /// How many subsets run at once for sets of these sizes: as many as the threads and the free memory allow
    /// (the result is the same for any number); an error if not even one subset's Gram matrices fit.
    public func workers(countA: Int, countB: Int, dimension: Int = 2048) throws -> Int {
        let metric = try metric()
        let perWorker = metric.bytesPerWorker(countA: countA, countB: countB, dimension: dimension)
        try Memory.require(perWorker, for: "KID with subsets of \(min(metric.subsetSize, countA, countB)) images",
                           advice: "give a smaller --kid-subset-size")
        return max(1, min(Threading.threads, Memory.available() / max(perWorker, 1)))
    }

    public func metric() throws -> KernelInceptionDistance {
        do { return try KernelInceptionDistance(subsets: subsets, subsetSize: subsetSize ?? KernelInceptionDistance.defaultSubsetSize) }
        catch { throw PipelineError("\(error)") }
    }
}
