// Options shared by the commands that run a model.

import ArgumentParser
import Foundation
import Imaging
import Models
import Tensor
import TorchFormats

struct ModelOptions: ParsableArguments {
    @Option(help: "Checkpoint: .pt / .pth / .ckpt / .bin (any torch.save format) or .safetensors.")
    var checkpoint: String

    @Option(help: "Upstream YAML config (latent-diffusion config.yaml, enhancing-transformers configs/*.yaml).")
    var config: String?

    @Option(help: "Model family: rt-vqvae, ldm-vqgan or vit-vqgan (default: detected from the checkpoint).")
    var family: String?

    @Option(help: "Preprocessing preset (default: the family's; \(Preset.names.joined(separator: ", ")), optionally @SIZE).")
    var preprocess: String?

    @Option(help: "3x3 convolutions: winograd (default; oneDNN's Winograd on layers of 64x64 pixels and more with up to 256 channels, ~1.5-2x faster there, error within the faithfulness tolerance; vqrt's own F(4x4,3x3) on CPUs where oneDNN has none, e.g. AVX2, there on 512-channel layers too) or direct (PyTorch's own algorithm).")
    var convAlgorithm: String = ConvolutionKernel.Algorithm.winograd.rawValue

    @Option(help: ArgumentHelp(Precision.optionHelp))
    var precision: String = Precision.fp32.rawValue

    func load() throws -> LoadedModel {
        guard let algorithm = ConvolutionKernel.Algorithm(rawValue: convAlgorithm) else {
            throw ValidationError("unknown --conv-algorithm '\(convAlgorithm)' (winograd, direct)")
        }
        // Kernels take the defaults when they are built, i.e. while the model loads.
        ConvolutionKernel.defaultAlgorithm = algorithm
        Precision.setDefault(try Precision.parse(precision))
        var forced: ModelFamily?
        if let family {
            guard let f = ModelFamily(rawValue: family) else { throw ValidationError("unknown family '\(family)' (rt-vqvae, ldm-vqgan, vit-vqgan)") }
            forced = f
        }
        return try ModelLoader.load(path: checkpoint, family: forced, configPath: config)
    }

    /// The algorithm the 3x3 convolutions really use: bf16 kernels are always direct (oneDNN has no bf16 Winograd).
    var effectiveConvAlgorithm: String {
        precision == Precision.bf16.rawValue ? ConvolutionKernel.Algorithm.direct.rawValue : convAlgorithm
    }

    func preset(for model: VQModel) throws -> Preset {
        guard let preprocess else { return model.preset }
        guard let p = Preset.named(preprocess) else { throw ValidationError("unknown preset '\(preprocess)'") }
        return p
    }
}

struct RunOptions: ParsableArguments {
    @Option(help: "Images per batch.")
    var batchSize = 8

    @Option(help: "Threads (default: all cores).")
    var threads: Int?

    @Flag(help: "No progress output.")
    var quiet = false

    func apply() throws {
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
        if let threads {
            guard threads > 0 else { throw ValidationError("--threads must be positive") }
            Threading.setThreads(threads)
        }
    }

    var workerThreads: Int { threads ?? ProcessInfo.processInfo.activeProcessorCount }
}

extension Precision {
    static let optionHelp = "Convolutions, linear layers and attention matmuls: fp32 (default) or bf16 (bfloat16 inputs and weights, float32 accumulation, like PyTorch's CPU autocast; ~97% of codes and the PSNR to 0.01 dB as fp32). Faster only where the CPU's bfloat16 dot products outrun its float32 FMAs (AMX); with AVX512-BF16 alone it measured 1.5-2.6x slower than fp32; without it (AVX2) bf16 is emulated by rounding the operands for the fp32 kernels. The codebook search, normalisations and the Inception network stay float32."

    static func parse(_ s: String) throws -> Precision {
        guard let p = Precision(rawValue: s) else { throw ValidationError("unknown --precision '\(s)' (fp32, bf16)") }
        return p
    }
}
