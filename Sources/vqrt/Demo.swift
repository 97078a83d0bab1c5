// `vqrt demo`: the main job end to end on the bundled default (cli.md): a small latent-diffusion VQGAN trained
// with the rotation trick on photos that PyPI packages ship (tools/train_demo.py), and a handful of held-out
// images. Reconstructs them, writes a side-by-side picture, prints PSNR, codebook usage and quantisation error.

import ArgumentParser
import Foundation
import Imaging
import Metrics
import Models
import Tensor

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reconstruct the bundled images with the bundled VQGAN; write a side-by-side picture; print the metrics.")

    @Option(help: "Directory holding the bundled default (default: Fixtures/demo of the vqrt checkout).")
    var bundle: String?

    @Option(help: "Where to write the reconstructions and the side-by-side picture.")
    var output = "demo-output"

    @Option(help: "Threads (default: all cores).")
    var threads: Int?

    @Option(help: "3x3 convolutions: winograd (default) or direct (PyTorch's algorithm); see `vqrt reconstruct --help`.")
    var convAlgorithm: String = ConvolutionKernel.Algorithm.winograd.rawValue

    @Option(help: ArgumentHelp(Precision.optionHelp))
    var precision: String = Precision.fp32.rawValue

    func run() throws {
        try reportingErrors(file: nil) {
            if let threads { Threading.setThreads(threads) }
            guard let algorithm = ConvolutionKernel.Algorithm(rawValue: convAlgorithm) else {
                throw ValidationError("unknown --conv-algorithm '\(convAlgorithm)' (winograd, direct)")
            }
            ConvolutionKernel.defaultAlgorithm = algorithm
            Precision.setDefault(try Precision.parse(precision))
            let dir = try bundle ?? Demo.findBundle()
            let checkpoint = (dir as NSString).appendingPathComponent("demo-vqgan.ckpt")
            let config = (dir as NSString).appendingPathComponent("config.yaml")
            let images = try ImageInputs.expand([(dir as NSString).appendingPathComponent("images")])
            let start = Clock.seconds()
            let loaded = try reportingFile(checkpoint) {
                try ModelLoader.load(path: checkpoint, configPath: FileManager.default.fileExists(atPath: config) ? config : nil)
            }
            let model = loaded.model
            let preset = model.preset
            print("model: \(model.family.rawValue), " + model.summary.map { "\($0.0) \($0.1)" }.joined(separator: ", "))
            let batch = BatchLoader.load(paths: images, preset: preset, keepOriginals: true)
            for f in batch.failures { Console.warning("\(f.path): \(f.error) (skipped)") }
            guard batch.count > 0, let originals = batch.originals else { throw CLIError("no bundled image could be read in \(dir)") }
            let x = try Tensor(shape: [batch.count, 3, batch.height, batch.width], values: batch.tensor)
            let (encoded, y) = try model.reconstruct(x)
            let out = y.plain().toArray()
            let h = y.shape[2], w = y.shape[3], plane = 3 * h * w
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            var psnr = PSNRStatistics()
            var usage = try CodebookUsage(codebookSize: model.codebookSize, windowImages: batch.count)
            try usage.add(codes: encoded.codes.map(Int64.init), images: batch.count)
            var recons: [RGBImage] = []
            print("\nimage                       PSNR (dB)")
            for k in 0..<batch.count {
                let r = try preset.pixels(chw: Array(out[(k * plane)..<((k + 1) * plane)]), width: w, height: h)
                recons.append(r)
                let name = ((batch.files[k] as NSString).lastPathComponent as NSString).deletingPathExtension + ".png"
                try writePNG(r, (output as NSString).appendingPathComponent(name))
                var one = PSNRStatistics()
                try one.add(original: originals[k].pixels, reconstruction: r.pixels, images: 1)
                try psnr.add(original: originals[k].pixels, reconstruction: r.pixels, images: 1)
                let value = one.result.meanPSNR.map { String(format: "%.2f", $0) } ?? "inf"
                print(name.padding(toLength: max(28, name.count + 1), withPad: " ", startingAt: 0) + value)
            }
            let picture = (output as NSString).appendingPathComponent("side_by_side.png")
            try writePNG(try SideBySide.make(top: originals, bottom: recons), picture)
            let u = usage.result
            let qerr = encoded.quantizationError.reduce(0.0) { $0 + Double($1) } / Double(max(encoded.quantizationError.count, 1))
            print("")
            print(String(format: "mean PSNR: %.2f dB over %d images", psnr.result.meanPSNR ?? .infinity, batch.count))
            print(String(format: "codebook usage: %d of %d codes (%.1f%%), perplexity %.1f, over %d code positions", u.usedCodes,
                         model.codebookSize, 100 * u.usage, u.perplexity, u.totalCodes))
            print(String(format: "quantisation error: %.5f (mean squared distance to the chosen code)", qerr))
            if let reference = Demo.referencePSNR(dir) {
                print(String(format: "PyTorch's reconstruction of the same images: mean PSNR %.2f dB", reference))
            }
            print(String(format: "\nwrote %d reconstructions and %@ in %.2f s", batch.count, picture, Clock.seconds() - start))
        }
    }

    /// Fixtures/demo next to the executable's checkout, or under the current directory.
    static func findBundle() throws -> String {
        if let env = ProcessInfo.processInfo.environment["VQRT_DEMO_DIR"] { return env }
        var candidates: [URL] = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath)]
        var exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 { candidates.append(exe); exe.deleteLastPathComponent() }
        for c in candidates {
            let d = c.appendingPathComponent("Fixtures/demo")
            if FileManager.default.fileExists(atPath: d.appendingPathComponent("demo-vqgan.ckpt").path) { return d.path }
        }
        throw CLIError("the bundled demo (Fixtures/demo/demo-vqgan.ckpt) was not found; run from the vqrt checkout or pass --bundle DIR")
    }

    static func referencePSNR(_ dir: String) -> Double? {
        guard let data = FileManager.default.contents(atPath: (dir as NSString).appendingPathComponent("reference.json")),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return obj["psnr_db_mean"] as? Double
    }
}

/// Originals above reconstructions, 4-pixel white gutters.
enum SideBySide {
    static func make(top: [RGBImage], bottom: [RGBImage], gutter: Int = 4) throws -> RGBImage {
        let cellW = (top + bottom).map(\.width).max() ?? 0, cellH = (top + bottom).map(\.height).max() ?? 0
        let cols = max(top.count, bottom.count)
        let width = cols * cellW + (cols + 1) * gutter, height = 2 * cellH + 3 * gutter
        var pixels = [UInt8](repeating: 255, count: width * height * 3)
        for (row, images) in [top, bottom].enumerated() {
            for (col, img) in images.enumerated() {
                let x0 = gutter + col * (cellW + gutter), y0 = gutter + row * (cellH + gutter)
                for y in 0..<img.height {
                    let src = y * img.width * 3, dst = ((y0 + y) * width + x0) * 3
                    pixels.replaceSubrange(dst..<(dst + img.width * 3), with: img.pixels[src..<(src + img.width * 3)])
                }
            }
        }
        return try RGBImage(width: width, height: height, pixels: pixels)
    }
}
