// Where LPIPS' weights come from:
// - the backbone: torchvision's ImageNet weights, given by path (`vqrt lpips --backbone W`), loaded with vqrt's
//   checkpoint reader; only `features.*` is used, `classifier.*` is allowed and ignored, anything else is an error;
// - the lin layers: the `lpips` package's `weights/v0.1/<net>.pth` (BSD-2-Clause, a few KB each), bundled in
//   `Resources/lpips/v0.1/` of the vqrt checkout with their licence, or given by path.
import Foundation
import NN
import TorchFormats

public enum LPIPSError: Error, CustomStringConvertible, Equatable {
    case backboneNotFound(net: LPIPS.Net, path: String)
    case linearWeightsNotFound(String)
    case notBackbone(net: LPIPS.Net, path: String, message: String)
    case notLinearWeights(path: String, message: String)

    public var description: String {
        switch self {
        case .backboneNotFound(let net, let path):
            let b = LPIPSWeights.backbone(net)
            return "LPIPS-\(net.rawValue) backbone weights not found at '\(path)'. The file is torchvision's \(b.fileName) "
                + "from \(b.url) (its SHA-256 begins with \(b.sha256Prefix), torch.hub's naming rule); torchvision caches "
                + "it under ~/.cache/torch/hub/checkpoints/."
        case .linearWeightsNotFound(let m):
            return m
        case .notBackbone(let net, let path, let m):
            return "\(path): not torchvision's \(LPIPSWeights.backbone(net).fileName) (LPIPS-\(net.rawValue) backbone): \(m)"
        case .notLinearWeights(let path, let m):
            return "\(path): not the lpips v0.1 lin-layer weights: \(m)"
        }
    }
}

public enum LPIPSWeights {
    public struct Backbone: Sendable {
        public let fileName: String
        public let url: String
        /// The first 8 hex digits of the file's SHA-256 (torch.hub `check_hash` compares exactly this prefix).
        public let sha256Prefix: String
    }

    /// torchvision's `IMAGENET1K_V1` weights, which `lpips` loads through `tv.alexnet(pretrained=True)` etc.
    public static func backbone(_ net: LPIPS.Net) -> Backbone {
        switch net {
        case .alex: return Backbone(fileName: "alexnet-owt-7be5be79.pth",
                                    url: "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth", sha256Prefix: "7be5be79")
        case .vgg: return Backbone(fileName: "vgg16-397923af.pth",
                                   url: "https://download.pytorch.org/models/vgg16-397923af.pth", sha256Prefix: "397923af")
        case .squeeze: return Backbone(fileName: "squeezenet1_1-b8a52dc0.pth",
                                       url: "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth", sha256Prefix: "b8a52dc0")
        }
    }

    /// SHA-256 of the bundled lin-layer files (lpips 0.1.4 wheel, `lpips/weights/v0.1/`).
    public static let linearSHA256: [LPIPS.Net: String] = [
        .alex: "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
        .vgg: "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
        .squeeze: "4a5350f23600cb79923ce65bb07cbf57dca461329894153e05a1346bd531cf76",
    ]

    /// Where the bundled lin weights live relative to the checkout.
    public static func bundledRelativePath(_ net: LPIPS.Net) -> String { "Resources/lpips/v0.1/\(net.rawValue).pth" }

    /// The bundled lin weights: `$VQRT_RESOURCES/lpips/v0.1/<net>.pth`, else `Resources/lpips/v0.1/<net>.pth` under
    /// the current directory or one of the executable's parent directories (as `vqrt demo` finds Fixtures/demo).
    public static func bundledLinearPath(_ net: LPIPS.Net) throws -> String {
        var candidates: [String] = []
        if let env = ProcessInfo.processInfo.environment["VQRT_RESOURCES"] {
            candidates.append((env as NSString).appendingPathComponent("lpips/v0.1/\(net.rawValue).pth"))
        }
        var dirs = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath)]
        var exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 { dirs.append(exe); exe.deleteLastPathComponent() }
        candidates += dirs.map { $0.appendingPathComponent(bundledRelativePath(net)).path }
        if let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) { return found }
        throw LPIPSError.linearWeightsNotFound(
            "the bundled LPIPS lin weights (\(bundledRelativePath(net))) were not found; run from the vqrt checkout, "
            + "set VQRT_RESOURCES to its Resources directory, or pass the lpips package's weights/v0.1/\(net.rawValue).pth")
    }

    /// Loads LPIPS from a torchvision backbone file and the lin weights (bundled ones when `linearPath` is nil).
    public static func load(net: LPIPS.Net, backbonePath: String, linearPath: String? = nil) throws -> LPIPS {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: backbonePath, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw LPIPSError.backboneNotFound(net: net, path: backbonePath)
        }
        let linPath = try linearPath ?? bundledLinearPath(net)
        guard FileManager.default.fileExists(atPath: linPath) else {
            throw LPIPSError.linearWeightsNotFound("LPIPS lin weights not found at '\(linPath)'")
        }
        let backboneSource = try checkpointWeights(path: backbonePath)
        let linearSource = try checkpointWeights(path: linPath)
        return try build(net: net, backbone: backboneSource, linear: linearSource,
                         backboneName: backbonePath, linearName: linPath)
    }

    /// A checkpoint file's state dict as a weight source (vqrt's safe reader; float32 values).
    public static func checkpointWeights(path: String) throws -> WeightSource {
        StateDictWeights(try Checkpoint.open(path: path).stateDict())
    }

    /// Builds LPIPS from any weight sources (torchvision layout for the backbone, lpips layout for the lin layers),
    /// as strictly as `load_state_dict`: every needed key with its shape; the backbone may also hold
    /// `classifier.*`, nothing else.
    public static func build(net: LPIPS.Net, backbone: WeightSource, linear: WeightSource,
                             backboneName: String = "<backbone>", linearName: String = "<lin weights>") throws -> LPIPS {
        let backboneLoader = WeightLoader(backbone, missing: .collect)
        let linearLoader = WeightLoader(linear, missing: .collect)
        let model: LPIPS
        do {
            model = try LPIPS(net: net, features: backboneLoader.root.scope("features"), linear: linearLoader.root)
        } catch let e as WeightError {
            throw LPIPSError.notBackbone(net: net, path: backboneName, message: e.description)
        }
        do {
            let report = try backboneLoader.finish(ignoring: ["classifier."])
            if !report.unexpected.isEmpty {
                throw LPIPSError.notBackbone(net: net, path: backboneName,
                                             message: "unexpected key(s) \(report.unexpected.prefix(5).joined(separator: ", "))")
            }
        } catch let e as WeightError {
            throw LPIPSError.notBackbone(net: net, path: backboneName, message: e.description)
        }
        do {
            let report = try linearLoader.finish()
            if !report.unexpected.isEmpty {
                throw LPIPSError.notLinearWeights(path: linearName,
                                                  message: "unexpected key(s) \(report.unexpected.prefix(5).joined(separator: ", ")) (another net's file?)")
            }
        } catch let e as WeightError {
            throw LPIPSError.notLinearWeights(path: linearName, message: e.description)
        }
        return model
    }

    /// The exact tensors of a torchvision backbone's `features` (name, shape), in state-dict order: what a synthetic
    /// backbone for tests must hold.
    public static func featureLayout(_ net: LPIPS.Net) -> [(name: String, shape: [Int])] {
        var out: [(String, [Int])] = []
        func conv(_ p: String, _ o: Int, _ i: Int, _ k: Int) {
            out.append(("features.\(p).weight", [o, i, k, k])); out.append(("features.\(p).bias", [o]))
        }
        switch net {
        case .alex:
            conv("0", 64, 3, 11); conv("3", 192, 64, 5); conv("6", 384, 192, 3); conv("8", 256, 384, 3); conv("10", 256, 256, 3)
        case .vgg:
            for slice in VGG16Features.slices { for c in slice { conv("\(c.index)", c.outChannels, c.inChannels, 3) } }
        case .squeeze:
            conv("0", 64, 3, 3)
            for (i, inC, s, e) in [(3, 64, 16, 64), (4, 128, 16, 64), (6, 128, 32, 128), (7, 256, 32, 128),
                                   (9, 256, 48, 192), (10, 384, 48, 192), (11, 384, 64, 256), (12, 512, 64, 256)] {
                conv("\(i).squeeze", s, inC, 1); conv("\(i).expand1x1", e, s, 1); conv("\(i).expand3x3", e, s, 3)
            }
        }
        return out
    }

    /// The lin-layer tensors of the lpips weights file for `net`.
    public static func linearLayout(_ net: LPIPS.Net) -> [(name: String, shape: [Int])] {
        net.channels.enumerated().map { ("lin\($0.offset).model.1.weight", [1, $0.element, 1, 1]) }
    }
}

/// A checkpoint's state dict as a weight source (float32 values).
struct StateDictWeights: WeightSource {
    let sd: StateDict
    init(_ sd: StateDict) { self.sd = sd }
    var names: [String] { sd.names }
    func tensor(named name: String) throws -> (shape: [Int], values: [Float])? {
        guard let t = sd[name] else { return nil }
        return (t.shape, try t.floats())
    }
}
