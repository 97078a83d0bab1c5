// Where the FID Inception weights come from: the released file `pt_inception-2015-12-05-6726825d.pth` (any
// torch.save container; the 2019 file is probably the legacy format and may lack `num_batches_tracked`), loaded
// as strictly as `load_state_dict(strict=True)` does, or synthetic weights for tests (contract C4).
import Foundation
import NN
import Tensor
import TorchFormats

/// Problems with an Inception weights file, beyond what the checkpoint reader reports.
public enum InceptionError: Error, CustomStringConvertible, Equatable {
    /// No file at the path.
    case weightsNotFound(path: String)
    /// The file is a checkpoint but not of the FID Inception (extra or missing keys, wrong shapes).
    case notFIDInception(String)

    public var description: String {
        switch self {
        case .weightsNotFound(let path):
            return "Inception weights not found at '\(path)'. The standard file is \(InceptionWeights.standardFileName) "
                + "from \(InceptionWeights.standardURL) (SHA-256 \(InceptionWeights.standardSHA256)); pytorch-fid "
                + "caches it under ~/.cache/torch/hub/checkpoints/. torch-fidelity's own conversion of the same network, "
                + "\(InceptionWeights.torchFidelityFileName) from \(InceptionWeights.torchFidelityURL), is accepted too."
        case .notFIDInception(let m):
            return "not the FID Inception-v3 weights: \(m)"
        }
    }
}

public enum InceptionWeights {
    public static let standardFileName = "pt_inception-2015-12-05-6726825d.pth"
    public static let standardURL =
        "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
    /// From a third-party asset manifest (spec/metrics.md §4.1); its first 8 hex digits match the file name.
    public static let standardSHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"

    /// torch-fidelity's conversion of the same TF graph (`utils/util_convert_inception_weights.py`): a plain dict of
    /// the same 472 tensors under the same names (no `num_batches_tracked`), written by its own `torch.save`. Its name
    /// carries pytorch-fid's hash suffix, but torch.hub never checks it (`check_hash` is off) and the converter
    /// writes `pt-inception-2015-12-05.pth`: the suffix says nothing about the bytes, which could not be compared
    /// here (no network). Both files load through `load(path:)`; the protocol, not the file, makes torch-fidelity's
    /// features differ.
    public static let torchFidelityFileName = "weights-inception-2015-12-05-6726825d.pth"
    public static let torchFidelityURL =
        "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"

    /// Where torch.hub (pytorch-fid, pytorch-image-generation-metrics) keeps the file: `$TORCH_HOME/hub/checkpoints`,
    /// else `$XDG_CACHE_HOME/torch/hub/checkpoints`, else `~/.cache/torch/hub/checkpoints`.
    public static var torchHubPath: String {
        let env = ProcessInfo.processInfo.environment
        let torchHome = env["TORCH_HOME"]
            ?? ((env["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache")) + "/torch")
        return torchHome + "/hub/checkpoints/" + standardFileName
    }

    /// The 472 tensors of the released file (spec/metrics.md Appendix A), in state-dict order: the keys the module
    /// tree (InceptionV3.swift) reads, in the order it reads them, which is torchvision's registration order.
    public static let stateDictLayout: [(name: String, shape: [Int])] = {
        let recorder = LayoutRecorder()
        do { _ = try InceptionV3(WeightLoader(recorder).root) } catch { fatalError("Inception's module tree: \(error)") }
        return recorder.layout
    }()

    /// Synthetic weights for tests and benchmarks ("inception-fixture v1"): contract C4 (vqrt-rng v1, `seed`) for
    /// every tensor, with each 4-d convolution weight then multiplied by Float(sqrt(2)) in float32. Pure C4 draws
    /// convolution weights with variance 1/fan_in, which halves the signal's power at every ReLU: after 16 layers
    /// the pool3 features would barely depend on the image (0.2% spread across images); the He gain keeps them
    /// informative (~30%). tools/make_inception_fixtures.py applies the same rule.
    public static func synthetic(seed: UInt64) -> WeightSource {
        SyntheticInceptionWeights(seed: seed)
    }

    /// Loads the weights file at `path` (checking it exists first, with a message that says where the standard
    /// file comes from) and builds the network, as strictly as `load_state_dict(strict=True)`.
    public static func load(path: String) throws -> InceptionV3 {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw InceptionError.weightsNotFound(path: path)
        }
        let sd = try Checkpoint.open(path: path).stateDict()
        return try build(from: StateDictWeightSource(sd))
    }

    /// Builds the network from any weight source: every one of the 472 tensors must be present with its shape;
    /// `*.num_batches_tracked` may be present or not; nothing else may be (e.g. `AuxLogits.*` means torchvision's
    /// ImageNet weights, which are not the FID network).
    public static func build(from source: WeightSource) throws -> InceptionV3 {
        let expected = Set(stateDictLayout.map(\.name))
        let unexpected = source.names.filter { !expected.contains($0) && !$0.hasSuffix(".num_batches_tracked") }
        if !unexpected.isEmpty {
            let shown = unexpected.prefix(5).joined(separator: ", ")
            throw InceptionError.notFIDInception(
                "\(unexpected.count) unexpected key(s): \(shown)\(unexpected.count > 5 ? ", ..." : "")")
        }
        let loader = WeightLoader(source, missing: .collect)
        let model: InceptionV3
        do {
            model = try InceptionV3(loader.root)
            try loader.finish(ignoring: [])
        } catch let e as WeightError {
            throw InceptionError.notFIDInception(e.description)
        }
        return model
    }

    /// SHA-256 (hex) of a file's bytes, to tell the standard weights from others.
    public static func sha256(path: String) throws -> String {
        try Hashing.sha256(file: path)
    }
}

/// See `InceptionWeights.synthetic(seed:)`.
final class SyntheticInceptionWeights: WeightSource {
    let base: DeterministicWeightSource
    init(seed: UInt64) {
        base = DeterministicWeightSource(seed: seed, tensors: InceptionWeights.stateDictLayout)
    }
    var names: [String] { base.names }
    func tensor(named name: String) throws -> (shape: [Int], values: [Float])? {
        guard var t = try base.tensor(named: name) else { return nil }
        if t.shape.count == 4 {
            let gain = Float(2.0.squareRoot())
            for i in t.values.indices { t.values[i] *= gain }
        }
        return t
    }
}
