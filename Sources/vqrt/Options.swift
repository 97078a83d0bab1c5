// The options layer: every option declared once, with its bounds and a one- or two-line help, shared by the
// commands that take it. swift-argument-parser calls `validate()` before `run()`, so a bad value is an `error:`
// line before anything is read or computed.

import ArgumentParser
import Foundation
import Imaging
import Metrics
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
extension InceptionProtocol: ExpressibleByArgument {}
extension SSIMVariant: ExpressibleByArgument {}
extension LPIPS.Net: ExpressibleByArgument {}

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

    /// What `features` and `fid-stats` do before their one pass: the images, the weights and `output` checked
    /// (the output is never an input), the threads applied, the network loaded, the output's directory made.
    func loadWritingOne(output: String, from images: ImageList, run common: RunOptions) throws -> (InceptionV3, WeightsCheck) {
        var outputs = OutputGuard()
        source.register(in: &outputs)
        outputs.inputs(images)
        outputs.output(output, "--output")
        try requireFile()
        try outputs.check()
        common.apply()
        let loaded = try source.load(warn: Console.warn)
        try outputs.prepare()
        return loaded
    }
}

/// --protocol: the input pipeline of the FID Inception (features, fid-stats, fid, kid).
struct ProtocolOption: ParsableArguments {
    @Option(name: .customLong("protocol"),
            help: "FID protocol: pytorch-fid (default: ToTensor, F.interpolate to 299, 2x-1) or torch-fidelity (uint8, TF1 bilinear resize, (x-128)/128; also torchmetrics' FID/KID). Same network and weights, other features.")
    var value: InceptionProtocol?

    var resolved: InceptionProtocol { value ?? .pytorchFID }

    /// The protocol of a run over `files` that may record one (.npz written by vqrt): the option if given, else what
    /// they record, else pytorch-fid; a file made under another protocol is refused.
    func resolve(recorded: [(file: String, protocol: InceptionProtocol?)]) throws -> InceptionProtocol {
        let chosen = value ?? recorded.compactMap(\.protocol).first ?? .pytorchFID
        for (file, p) in recorded {
            if let p, p != chosen {
                throw PipelineError(file: file, "holds \(p.rawValue) features, not \(chosen.rawValue)" + (value == nil ? " (the other file's)" : " (--protocol)") + "; values of two protocols cannot be compared")
            }
        }
        return chosen
    }
}

/// --protocols: the FID/KID protocols of `eval` and `compare`, several from one pass.
struct ProtocolsOption: ParsableArguments {
    @Option(help: ArgumentHelp(
        "FID/KID protocols, comma-separated (\(InceptionProtocol.names)); each gets its own Inception pass over the same decoded images. pytorch-fid must be one: r-FID and r-IS are its.",
        valueName: "p,..."))
    var protocols = InceptionProtocol.pytorchFID.rawValue

    func validate() throws { _ = try list() }

    func list() throws -> [InceptionProtocol] {
        let list: [InceptionProtocol]
        do { list = try InceptionProtocol.list(protocols) } catch { throw ValidationError("--protocols: \(error)") }
        guard list.contains(.pytorchFID) else {
            throw ValidationError("--protocols must include pytorch-fid (r-FID and r-IS are pytorch-fid's), e.g. --protocols pytorch-fid,\(list.map(\.rawValue).joined(separator: ","))")
        }
        // pytorch-fid first: it is the one r-FID and r-IS report.
        return [.pytorchFID] + list.filter { $0 != .pytorchFID }
    }
}

/// --backbone, --net, --lpips-weights: the LPIPS network.
struct LPIPSOptions: ParsableArguments {
    @Option(help: ArgumentHelp("LPIPS backbone: torchvision's ImageNet weights for --net (alexnet-owt-7be5be79.pth, vgg16-397923af.pth, squeezenet1_1-b8a52dc0.pth).",
                               valueName: "weights"))
    var backbone: String?

    @Option(help: "LPIPS network: alex (default), vgg or squeeze.")
    var net: LPIPS.Net?

    @Option(help: ArgumentHelp("LPIPS lin-layer weights (the lpips package's weights/v0.1/<net>.pth); default: the bundled copy (Resources/lpips, or $VQRT_RESOURCES).",
                               valueName: "weights"))
    var lpipsWeights: String?

    /// The network when --backbone is given (eval, compare: LPIPS is optional there).
    func optionalSource() throws -> LPIPSSource? {
        guard let backbone else {
            if net != nil || lpipsWeights != nil { throw ValidationError("--net and --lpips-weights need --backbone (the LPIPS backbone weights)") }
            return nil
        }
        return LPIPSSource(net: net ?? .alex, backbone: backbone, linear: lpipsWeights)
    }

    /// The network, the backbone defaulting to torch hub's cache (the `lpips` command).
    var source: LPIPSSource {
        let net = self.net ?? .alex
        return LPIPSSource(net: net, backbone: backbone ?? LPIPSSource.torchHubPath(net), linear: lpipsWeights)
    }
}

/// --kid-subsets, --kid-subset-size: KID as torch-fidelity draws it.
struct KIDOptions: ParsableArguments {
    @Option(help: "KID: number of subsets (torch-fidelity's default 100).")
    var kidSubsets = KernelInceptionDistance.defaultSubsets

    @Option(help: "KID: images per subset (default: 1000, or the smaller set's size when a set is smaller; a larger value than a set holds is refused).")
    var kidSubsetSize: Int?

    func validate() throws {
        guard (1...(1 << 20)).contains(kidSubsets) else { throw ValidationError("--kid-subsets must be between 1 and \(1 << 20), got \(kidSubsets)") }
        if let m = kidSubsetSize, m < 2 { throw ValidationError("--kid-subset-size must be at least 2 (the unbiased estimate needs pairs), got \(m)") }
    }

    var settings: KIDSettings { KIDSettings(subsets: kidSubsets, subsetSize: kidSubsetSize) }
}

/// Sharding and resuming of `eval` and `compare`.
struct ShardOptions: ParsableArguments {
    @Option(help: "Evaluate shard I of N (0-based), e.g. 3/16; default from SLURM_ARRAY_TASK_ID/COUNT or JOB_COMPLETION_INDEX.")
    var shard: String?

    @Option(help: "Shard count for Kubernetes indexed jobs (JOB_COMPLETION_INDEX gives the index).")
    var shardCount: Int?

    @Option(help: "Save the partial state every N batches (it is also saved at the end).")
    var saveEvery = 4

    @Flag(help: "Discard the state and report of another run in the report directory instead of refusing to continue.")
    var restart = false

    func validate() throws {
        guard saveEvery >= 1 else { throw ValidationError("--save-every must be at least 1, got \(saveEvery)") }
        if let shardCount, shardCount < 1 { throw ValidationError("--shard-count must be at least 1, got \(shardCount)") }
        _ = try assignment()
    }

    func assignment() throws -> (index: Int, count: Int) {
        try ShardOptions.assignment(shard, shardCount: shardCount, environment: Knobs.environment)
    }

    /// `I/N` from --shard, else Slurm array variables, else a Kubernetes indexed job's JOB_COMPLETION_INDEX.
    static func assignment(_ shard: String?, shardCount: Int?, environment env: [String: String]) throws -> (index: Int, count: Int) {
        func check(_ i: Int, _ n: Int, _ source: String) throws -> (Int, Int) {
            guard n > 0, i >= 0, i < n else { throw ValidationError("\(source): shard \(i) of \(n) is not a valid assignment") }
            return (i, n)
        }
        if let shard {
            let parts = shard.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else { throw ValidationError("--shard expects I/N, e.g. 0/4, got '\(shard)'") }
            return try check(i, n, "--shard")
        }
        if let id = env["SLURM_ARRAY_TASK_ID"].flatMap(Int.init), let n = env["SLURM_ARRAY_TASK_COUNT"].flatMap(Int.init) {
            let minimum = env["SLURM_ARRAY_TASK_MIN"].flatMap(Int.init) ?? 0
            return try check(id - minimum, n, "SLURM_ARRAY_TASK_ID")
        }
        if let id = env["JOB_COMPLETION_INDEX"].flatMap(Int.init) {
            guard let n = shardCount ?? env["VQRT_SHARD_COUNT"].flatMap(Int.init) else {
                throw ValidationError("JOB_COMPLETION_INDEX is set: pass --shard-count (the job's completions)")
            }
            return try check(id, n, "JOB_COMPLETION_INDEX")
        }
        return (0, 1)
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
