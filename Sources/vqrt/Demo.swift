// `vqrt demo`: the main job end to end on the bundled default (cli.md): a small latent-diffusion VQGAN trained
// with the rotation trick on photos that PyPI packages ship (tools/train_demo.py), and a handful of held-out
// images. Reconstructs them, writes a side-by-side picture, prints PSNR, codebook usage and quantisation error.

import ArgumentParser
import Foundation
import Imaging
import Metrics
import Models
import Pipeline
import Tensor

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reconstruct the bundled images with the bundled VQGAN; write a side-by-side picture; print the metrics.")

    @Option(help: "Directory holding the bundled default (default: Fixtures/demo of the vqrt checkout, or VQRT_DEMO_DIR).")
    var bundle: String?

    @Option(help: "Where to write the reconstructions and the side-by-side picture.")
    var output = "demo-output"

    @OptionGroup var common: RunOptions

    @Option(help: "Run the demo with this model instead of the bundled VQGAN (any family; the bundled images are reconstructed with the family's preset).")
    var checkpoint: String?

    @Option(help: "Upstream config of --checkpoint, where its weights cannot tell (see `vqrt reconstruct --help`).")
    var config: String?

    @Option(help: "Model family of --checkpoint (\(ModelFamily.allCases.map(\.rawValue).joined(separator: ", "))); default: detected.")
    var family: ModelFamily?

    @Option(help: "Preprocessing preset NAME or NAME@SIZE for --checkpoint; default: the family's.")
    var preprocess: String?

    @Option(help: "3x3 convolutions: winograd (default) or direct (PyTorch's algorithm); see `vqrt reconstruct --help`.")
    var convAlgorithm: ConvolutionKernel.Algorithm = .winograd

    @Option(help: "fp32 (default) or bf16; see `vqrt reconstruct --help`.")
    var precision: Precision = .fp32

    func validate() throws {
        if checkpoint == nil, config != nil || family != nil || preprocess != nil {
            throw ValidationError("--config, --family and --preprocess apply to --checkpoint: pass the model too")
        }
        if let preprocess {
            do { _ = try PresetSpec.parse(preprocess) } catch { throw ValidationError("--preprocess: \(error)") }
        }
    }

    func run() throws {
        let dir = try bundle ?? Demo.findBundle()
        let images = try ImageList([(dir as NSString).appendingPathComponent("images")])
        let names = try images.outputNames(keepDirectories: false)
        let execution = ExecutionConfig(convolutionAlgorithm: convAlgorithm, precision: precision)
        let source: ModelSource
        if let checkpoint {
            try FileSystem.requireReadableFile(checkpoint)
            source = ModelSource(checkpoint: checkpoint, config: config, family: family, preprocess: preprocess, execution: execution)
        } else {
            let bundled = (dir as NSString).appendingPathComponent("config.yaml")
            source = ModelSource(checkpoint: (dir as NSString).appendingPathComponent("demo-vqgan.ckpt"),
                                 config: FileSystem.kind(bundled) == .file ? bundled : nil, execution: execution)
        }
        var outputs = OutputGuard()
        source.register(in: &outputs)
        outputs.inputs(images)
        outputs.outputDirectory(output, "--output", files: names + ["side_by_side.png"])
        try outputs.check()
        common.apply()
        let start = Clock.seconds()
        let vq = try source.load()
        print("model: \(vq.model.family.rawValue), " + vq.loaded.configuration.hyperparameters.map { "\($0.0) \($0.1.render())" }.joined(separator: ", "))
        try outputs.prepare()
        let reader = BatchReader(paths: images.paths, preset: vq.preset, batchSize: images.paths.count, policy: .skip,
                                 keepOriginals: true, threads: common.threadCount, warn: Console.warn)
        guard let loaded = try reader.next(), loaded.count > 0, let originals = loaded.batch.originals else {
            throw PipelineError(file: dir, "no bundled image could be read")
        }
        let (encoded, output) = try VQRunner(vq).reconstruct(loaded.batch)
        var psnr = PSNRStatistics()
        var usage = try CodebookUsage(codebookSize: vq.model.codebookSize, windowImages: loaded.count)
        try usage.add(codes: encoded.codes.map(Int64.init), images: loaded.count)
        var reconstructions: [RGBImage] = []
        print("\nimage                       PSNR (dB)")
        for (k, position) in loaded.positions.enumerated() {
            let r = try output.image(k, preset: vq.preset)
            reconstructions.append(r)
            let path = (self.output as NSString).appendingPathComponent(names[position])
            try naming(path) { try ImageEncoder.writePNG(r, to: path) }
            var one = PSNRStatistics()
            try one.add(original: originals[k].pixels, reconstruction: r.pixels, images: 1)
            try psnr.add(original: originals[k].pixels, reconstruction: r.pixels, images: 1)
            let value = one.result.meanPSNR.map { String(format: "%.2f", $0) } ?? "inf"
            print(names[position].padding(toLength: max(28, names[position].count + 1), withPad: " ", startingAt: 0) + value)
        }
        let picture = (self.output as NSString).appendingPathComponent("side_by_side.png")
        try naming(picture) { try ImageEncoder.writePNG(try SideBySide.make(top: originals, bottom: reconstructions), to: picture) }
        let u = usage.result
        let qerr = encoded.quantizationError.reduce(0.0) { $0 + Double($1) } / Double(max(encoded.quantizationError.count, 1))
        print("")
        print(String(format: "mean PSNR: %.2f dB over %d images", psnr.result.meanPSNR ?? .infinity, loaded.count))
        print(String(format: "codebook usage: %d of %d codes (%.1f%%), perplexity %.1f, over %d code positions", u.usedCodes,
                     vq.model.codebookSize, 100 * u.usage, u.perplexity, u.totalCodes))
        print(String(format: "quantisation error: %.5f (mean squared distance to the chosen code)", qerr))
        if checkpoint == nil, let reference = Demo.referencePSNR(dir) {
            print(String(format: "PyTorch's reconstruction of the same images: mean PSNR %.2f dB", reference))
        }
        print(String(format: "\nwrote %d reconstructions and %@ in %.2f s", loaded.count, picture, Clock.seconds() - start))
    }

    /// Fixtures/demo next to the executable's checkout, or under the current directory.
    static func findBundle() throws -> String {
        if let env = Knobs.demoDirectory { return env }
        var candidates: [URL] = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath)]
        var exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 { candidates.append(exe); exe.deleteLastPathComponent() }
        for c in candidates {
            let d = c.appendingPathComponent("Fixtures/demo")
            if FileSystem.kind(d.appendingPathComponent("demo-vqgan.ckpt").path) == .file { return d.path }
        }
        throw PipelineError("the bundled demo (Fixtures/demo/demo-vqgan.ckpt) was not found; run from the vqrt checkout or pass --bundle DIR")
    }

    static func referencePSNR(_ dir: String) -> Double? {
        guard let data = FileManager.default.contents(atPath: (dir as NSString).appendingPathComponent("reference.json")),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return obj["psnr_db_mean"] as? Double
    }
}
