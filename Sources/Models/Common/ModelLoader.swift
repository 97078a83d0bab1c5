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
    /// Keys present but deliberately unused (EMA statistics of the codebook, LitEma bookkeeping...).
    public let ignoredKeys: [String]
    /// How many weights were taken from the checkpoint's LitEma shadows (`model_ema.*`) instead of the parameters
    /// themselves, as SEED-Voken's evaluation does (0: the parameters).
    public let emaWeights: Int
}

public enum ModelLoader {
    /// Buffers that inference never reads (lucidrains EMA state; LlamaGen's codebook-usage buffer, `show_usage`).
    static let inferenceIgnored = ["_codebook.initted", "_codebook.cluster_size", "_codebook.embed_avg", "quantize.codebook_used"]

    /// `execution`: the settings every layer of the model computes with (algorithm, precision).
    public static func load(path: String, family forced: ModelFamily? = nil, configPath: String? = nil,
                            execution: ExecutionConfig = .default) throws -> LoadedModel {
        let yaml = try configPath.map { try UpstreamConfig.read(path: $0) }
        let ckpt = try Checkpoint.open(path: path)
        let (configuration, sd) = try ModelConfiguration.derive(checkpoint: ckpt, family: forced, yaml: yaml)
        let source = try configuration.weightSource(sd)
        let loader = WeightLoader(source, execution: execution)
        let model = try configuration.build(loader.root)
        // LitEma shadows are not model keys: those of the model's own parameters were served in their place (and
        // must cover every one of them), the rest (the loss modules', LitEma's counters) are set aside.
        let report = try loader.finish(ignoring: ["loss.", EMAWeightSource.prefix])
        let ema = source as? EMAWeightSource
        try ema?.checkComplete(used: loader.used)
        var ignored = report.unexpected.filter { k in inferenceIgnored.contains { k.hasSuffix($0) } }
        let unexpected = report.unexpected.filter { !ignored.contains($0) }
        guard unexpected.isEmpty else {
            throw ModelError.badConfig("\(unexpected.count) checkpoint weight(s) are not used by the \(configuration.family.rawValue) configuration: \(unexpected.prefix(8).joined(separator: ", "))\(unexpected.count > 8 ? ", ..." : "")")
        }
        ignored += ema?.unusedShadows ?? sd.names.filter { $0.hasPrefix(EMAWeightSource.prefix) }
        // Every layer holds its own copy of its weights now: the mapped file need not stay resident (~the
        // checkpoint's size off the peak memory of every run).
        ckpt.releaseResidentPages()
        return LoadedModel(model: model, configuration: configuration, checkpoint: ckpt, stateDict: sd, ignoredKeys: ignored,
                           emaWeights: ema?.served.count ?? 0)
    }
}
