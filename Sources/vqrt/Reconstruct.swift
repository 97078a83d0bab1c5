// `vqrt reconstruct`: preprocess, encode, quantize, decode, write 8-bit PNGs (cli.md).

import ArgumentParser
import Foundation
import Imaging
import Models
import NPY
import Tensor

struct Reconstruct: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Reconstruct images through the model and write 8-bit PNGs.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var options: RunOptions

    @Argument(help: "Image files or directories.")
    var images: [String]

    @Option(help: "Directory for the reconstructions.")
    var output: String

    @Option(help: "Also write the preprocessed inputs as 8-bit PNGs here (the r-FID reference set).")
    var originals: String?

    @Option(help: "Also write the raw decoder outputs, float32 [N, 3, H, W], to this .npy.")
    var raw: String?

    @Flag(help: "Mirror input sub-directories in the output names (avoids base-name clashes).")
    var keepDirs = false

    func run() throws {
        try reportingErrors(file: nil) {
            try options.apply()
            let paths = try ImageInputs.expand(images)
            let names = try ImageInputs.outputNames(paths, roots: images, keepDirs: keepDirs)
            let loaded = try reportingFile(model.checkpoint) { try model.load() }
            let preset = try model.preset(for: loaded.model)
            for dir in [output] + (originals.map { [$0] } ?? []) {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            }
            let progress = Progress(total: paths.count, label: "reconstruct", quiet: options.quiet)
            let rawOutput = StreamedArray(raw)
            var skipped = 0, written = 0
            for start in stride(from: 0, to: paths.count, by: options.batchSize) {
                let range = start..<min(start + options.batchSize, paths.count)
                let batch = BatchLoader.load(paths: Array(paths[range]), preset: preset, threads: options.workerThreads,
                                             keepOriginals: originals != nil)
                for f in batch.failures { Console.warning("\(f.path): \(f.error) (skipped)"); skipped += 1 }
                if batch.count > 0 {
                    let x = try Tensor(shape: [batch.count, 3, batch.height, batch.width], values: batch.tensor)
                    let (_, y) = try loaded.model.reconstruct(x)
                    let out = y.plain().toArray()
                    let h = y.shape[2], w = y.shape[3], plane = 3 * h * w
                    for (k, index) in batch.indices.enumerated() {
                        let name = names[range.lowerBound + index]
                        let img = try preset.pixels(chw: Array(out[(k * plane)..<((k + 1) * plane)]), width: w, height: h)
                        try writePNG(img, (output as NSString).appendingPathComponent(name))
                        if let originals, let o = batch.originals?[k] { try writePNG(o, (originals as NSString).appendingPathComponent(name)) }
                        written += 1
                    }
                    try rawOutput.append(out, shape: [batch.count, 3, h, w])
                }
                progress.advance(by: range.count)
            }
            try rawOutput.finish()
            if !options.quiet {
                Console.info(String(format: "reconstructed %d image(s) into %@%@ in %.2f s (%.2f img/s)", written, output,
                                    skipped > 0 ? " (\(skipped) skipped)" : "", progress.elapsed, Double(written) / max(progress.elapsed, 1e-9)))
            }
            if written == 0 { throw CLIError("no image could be reconstructed") }
        }
    }
}

func writePNG(_ image: RGBImage, _ path: String) throws {
    try ImageEncoder.writePNG(image, to: path)
}

/// Prefixes errors from `body` with the file they concern.
func reportingFile<T>(_ file: String, _ body: () throws -> T) throws -> T {
    do { return try body() } catch { throw CLIError("\((file as NSString).lastPathComponent): \(error)") }
}
