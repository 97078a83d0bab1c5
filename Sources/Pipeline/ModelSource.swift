// A VQ model as a command asks for it: checkpoint, optional upstream config, forced family, preset override and
// the execution settings it computes with. Loading it resolves the preset and checks that the model takes the
// preset's image size.

import Foundation
import Imaging
import Models
import Tensor
import TorchFormats

public struct ModelSource: Sendable {
    public var checkpoint: String
    public var config: String?
    public var family: ModelFamily?
    /// A preset name with an optional size ("ldm-vqgan@512"); nil: the family's own.
    public var preprocess: String?
    public var execution: ExecutionConfig

    public init(checkpoint: String, config: String? = nil, family: ModelFamily? = nil, preprocess: String? = nil,
                execution: ExecutionConfig = .default) {
        self.checkpoint = checkpoint; self.config = config; self.family = family; self.preprocess = preprocess
        self.execution = execution
    }

    /// The files this model reads (for the output guard).
    public func register(in guard_: inout OutputGuard) {
        guard_.input(checkpoint, "the checkpoint")
        if let config { guard_.input(config, "the config") }
    }

    /// Loads the model (errors name the file at fault: the config's own problems name the config).
    public func load() throws -> LoadedVQ {
        if let config { try FileSystem.requireReadableFile(config) }
        let loaded: LoadedModel
        do {
            loaded = try ModelLoader.load(path: checkpoint, family: family, configPath: config, execution: execution)
        } catch let e as ModelConfigError {
            throw PipelineError(file: e.file, e.message)
        } catch {
            throw PipelineError(file: checkpoint, error.text(about: checkpoint))
        }
        let preset = try preprocess.map { try PresetSpec.parse($0) } ?? loaded.model.preset
        if let size = preset.tensorSize {
            do { try loaded.model.checkInputSize(height: size.height, width: size.width) } catch {
                throw PipelineError("preset \(preset.label): \(error)")
            }
        }
        return LoadedVQ(loaded: loaded, preset: preset, source: self)
    }
}

/// A loaded model with the preset its inputs go through.
public final class LoadedVQ {
    public let model: VQModel
    public let preset: Preset
    public let source: ModelSource
    public let checkpointBytes: Int
    public let loaded: LoadedModel

    init(loaded: LoadedModel, preset: Preset, source: ModelSource) {
        self.loaded = loaded
        model = loaded.model
        self.preset = preset
        self.source = source
        checkpointBytes = loaded.checkpoint.fileSize
    }

    /// Refuses batches of `batchSize` images of the preset's size that would not fit in memory.
    public func checkMemory(batchSize: Int) throws {
        guard let size = preset.tensorSize else { return }
        let perImage = model.activationBytes(height: size.height, width: size.width)
        try Memory.require(Memory.product(perImage, batchSize), for: "a batch of \(batchSize) images of \(size.width)x\(size.height)",
                           advice: "use a smaller --batch-size")
    }
}

/// `--preprocess NAME[@SIZE]`, with the reason when it is refused.
public enum PresetSpec {
    public static func parse(_ spec: String) throws -> Preset {
        let parts = spec.split(separator: "@", omittingEmptySubsequences: false)
        let name = String(parts[0])
        guard Preset.names.contains(name) else {
            throw PipelineError("unknown preset '\(name)' (\(Preset.names.joined(separator: ", ")))")
        }
        if parts.count > 2 { throw PipelineError("preset '\(spec)': expected NAME or NAME@SIZE") }
        if parts.count == 2 {
            guard let size = Int(parts[1]) else { throw PipelineError("preset '\(spec)': the size must be a whole number of pixels") }
            guard size > 0 else { throw PipelineError("preset '\(spec)': the size must be at least 1 pixel") }
            guard size <= 16384 else { throw PipelineError("preset '\(spec)': sizes above 16384 pixels are not supported") }
        }
        guard let preset = Preset.named(spec) else { throw PipelineError("preset '\(spec)' is not valid") }
        return preset
    }
}

extension Preset {
    /// "ldm-vqgan@256", or the bare name for presets that follow the input size.
    public var label: String { tensorSize.map { "\(name)@\($0.height)" } ?? name }
}
