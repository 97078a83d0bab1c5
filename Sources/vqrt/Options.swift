// The options layer: every option declared once, with its bounds and a one- or two-line help, shared by the
// commands that take it. swift-argument-parser calls `validate()` before `run()`, so a bad value is an `error:`
// line before anything is read or computed.

import ArgumentParser
import Foundation
import Imaging
import Models
import Pipeline
import Tensor

/// --threads and --quiet: every command that computes.
struct RunOptions: ParsableArguments {
    static let maxThreads = 256

    @Option(help: "Threads for every kernel (1-\(RunOptions.maxThreads); default: all cores). Results do not depend on it.")
    var threads: Int?

    @Flag(help: "No progress output (warnings and errors still go to stderr).")
    var quiet = false

    func validate() throws {
        if let t = threads, !(1...RunOptions.maxThreads).contains(t) {
            throw ValidationError("--threads must be between 1 and \(RunOptions.maxThreads), got \(t)")
        }
    }

    var threadCount: Int { threads ?? Threading.defaultThreads() }

    /// Sets the thread count of every kernel family (oneDNN, OpenBLAS, vqrt's own loops).
    func apply() { Threading.setThreads(threadCount) }
}

/// --batch-size: commands that run a network over many images.
struct BatchOptions: ParsableArguments {
    static let maxBatch = 1024

    @Option(help: "Images per batch (1-\(BatchOptions.maxBatch)). Results do not depend on it; memory grows with it.")
    var batchSize = 8

    func validate() throws {
        guard (1...BatchOptions.maxBatch).contains(batchSize) else {
            throw ValidationError("--batch-size must be between 1 and \(BatchOptions.maxBatch), got \(batchSize)")
        }
    }
}

/// --skip-unreadable: commands whose outputs are rows aligned with the inputs.
struct FailureOptions: ParsableArguments {
    @Flag(help: "Skip images that cannot be read (a warning each) instead of stopping; the output records which inputs it holds.")
    var skipUnreadable = false

    var policy: FailurePolicy { skipUnreadable ? .skip : .stop }
}

extension ConvolutionKernel.Algorithm: ExpressibleByArgument {}
extension Precision: ExpressibleByArgument {}
extension ModelFamily: ExpressibleByArgument {}

/// The model a command runs.
struct ModelOptions: ParsableArguments {
    @Option(help: "Checkpoint: .pt / .pth / .ckpt / .bin (any torch.save format) or .safetensors.")
    var checkpoint: String

    @Option(help: "Upstream config, for what the weights cannot tell: YAML (latent-diffusion config.yaml, taming model.yaml, enhancing-transformers configs/*.yaml, SEED-Voken configs/*.yaml) or a Hugging Face config.json (LlamaGen VQModelHF, open-muse MaskGitVQGAN; read by itself when it sits beside their weights).")
    var config: String?

    @Option(help: "Model family (\(ModelFamily.allCases.map(\.rawValue).joined(separator: ", "))); default: detected from the checkpoint. taming-vqgan is taming's GumbelVQ: its codes are the noise-free argmax of the Gumbel logits (upstream's encode adds Gumbel noise even in eval mode, so its codes are random); taming's plain VQGAN loads as ldm-vqgan.")
    var family: ModelFamily?

    @Option(help: "Preprocessing preset NAME or NAME@SIZE (\(Preset.names.joined(separator: ", "))); default: the family's.")
    var preprocess: String?

    @Option(help: "3x3 stride-1 convolutions: winograd (default; on layers of 64x64 pixels and more, about twice as fast there, within the faithfulness tolerance) or direct (PyTorch's algorithm).")
    var convAlgorithm: ConvolutionKernel.Algorithm = .winograd

    @Option(help: "Convolutions, linear layers and attention matmuls: fp32 (default) or bf16 (bfloat16 operands, float32 accumulation, like PyTorch's CPU autocast; faster only on CPUs with fast bfloat16 dot products).")
    var precision: Precision = .fp32

    func validate() throws {
        if let preprocess {
            do { _ = try PresetSpec.parse(preprocess) } catch { throw ValidationError("--preprocess: \(error)") }
        }
    }

    var source: ModelSource {
        ModelSource(checkpoint: checkpoint, config: config, family: family, preprocess: preprocess,
                    execution: ExecutionConfig(convolutionAlgorithm: convAlgorithm, precision: precision,
                                               tracesConvolutionPlans: Knobs.traceConvolutionPlans))
    }
}

/// The FID Inception weights.
struct InceptionOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "FID Inception-v3 weights, \(InceptionWeights.standardFileName) (default: torch hub's cache, where pytorch-fid keeps it).",
        valueName: "weights"))
    var inception: String?

    var source: InceptionSource { InceptionSource(path: inception ?? InceptionWeights.torchHubPath) }

    /// An error that says where the standard file comes from when the path has nothing.
    func requireFile() throws {
        let path = source.path
        guard FileSystem.kind(path) != nil else {
            throw PipelineError(file: path, "\(InceptionError.weightsNotFound(path: path))")
        }
        try FileSystem.requireReadableFile(path)
    }
}

/// Environment knobs, read here and nowhere else (README "Environment").
enum Knobs {
    static let environment = ProcessInfo.processInfo.environment
    /// VQRT_PROFILE=1: time every kernel (any command; `vqrt bench --profile` prints the table).
    static let profile = environment["VQRT_PROFILE"] != nil
    /// VQRT_PROFILE_FIRST=1: `vqrt bench` prints the 25 most expensive entries of the first batch.
    static let profileFirstBatch = environment["VQRT_PROFILE_FIRST"] != nil
    /// VQRT_TRACE_CONV=1: one stderr line per convolution plan (shapes, oneDNN implementation, scratchpad).
    static let traceConvolutionPlans = environment["VQRT_TRACE_CONV"] != nil
    /// VQRT_DEMO_DIR: where `vqrt demo` finds its bundle.
    static let demoDirectory = environment["VQRT_DEMO_DIR"]

    static func apply() {
        if profile { Profiler.enabled = true }
    }
}
