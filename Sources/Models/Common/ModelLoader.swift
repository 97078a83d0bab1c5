// Building a model from a checkpoint: its configuration derived once (ModelFamilies.swift), then built through a
// weight scope that carries the execution settings, then every key accounted for.

import Foundation
import NN
import Tensor
import TorchFormats

public struct LoadedModel {
    public let model: VQModel
    public let configuration: ModelConfiguration
    public let checkpoint: Checkpoint
    public let stateDict: StateDict
    /// Keys present but deliberately unused (EMA statistics of the codebook...).
    public let ignoredKeys: [String]
}

public enum ModelLoader {
    /// Buffers that inference never reads (lucidrains EMA state, taming remap table when unused).
    static let inferenceIgnored = ["_codebook.initted", "_codebook.cluster_size", "_codebook.embed_avg"]

    /// `execution`: the settings every layer of the model computes with (algorithm, precision).
    public static func load(path: String, family forced: ModelFamily? = nil, configPath: String? = nil,
                            execution: ExecutionConfig = .default) throws -> LoadedModel {
        let yaml = try configPath.map { try UpstreamConfig.read(path: $0) }
        let ckpt = try Checkpoint.open(path: path)
        let sd = try ckpt.stateDict()
        let configuration = try ModelConfiguration.derive(sd, checkpoint: ckpt, family: forced, yaml: yaml)
        let loader = WeightLoader(StateDictWeightSource(sd), execution: execution)
        let model = try configuration.build(loader.root)
        let report = try loader.finish(ignoring: ["loss."])
        let ignored = report.unexpected.filter { k in inferenceIgnored.contains { k.hasSuffix($0) } }
        let unexpected = report.unexpected.filter { !ignored.contains($0) }
        guard unexpected.isEmpty else {
            throw ModelError.badConfig("\(unexpected.count) checkpoint weight(s) are not used by the \(configuration.family.rawValue) configuration: \(unexpected.prefix(8).joined(separator: ", "))\(unexpected.count > 8 ? ", ..." : "")")
        }
        // Every layer holds its own copy of its weights now: the mapped file need not stay resident (~the
        // checkpoint's size off the peak memory of every run).
        ckpt.releaseResidentPages()
        return LoadedModel(model: model, configuration: configuration, checkpoint: ckpt, stateDict: sd, ignoredKeys: ignored)
    }
}
