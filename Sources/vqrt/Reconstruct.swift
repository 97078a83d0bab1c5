// `vqrt reconstruct`: preprocess, encode, quantize, decode, write 8-bit PNGs (cli.md).

import ArgumentParser
import Foundation
import Imaging
import Pipeline

struct Reconstruct: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Reconstruct images through the model and write 8-bit PNGs.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var batch: BatchOptions
    @OptionGroup var common: RunOptions

    @Argument(help: "Image files or directories (a directory: its image files, sorted by name). An image that cannot be read is skipped with a warning.")
    var images: [String]

    @Option(help: "Directory for the reconstructions (input base names, .png).")
    var output: String

    @Option(help: "Also write the preprocessed inputs as 8-bit PNGs here (the r-FID reference set).")
    var originals: String?

    @Option(help: "Also write the raw decoder outputs, float32 [N, 3, H, W], to this .npy.")
    var raw: String?

    @Flag(help: "Mirror input sub-directories in the output names (avoids base-name clashes).")
    var keepDirs = false

    func run() throws {
        let images = try ImageList(self.images)
        let names = try images.outputNames(keepDirectories: keepDirs)
        var outputs = OutputGuard()
        model.source.register(in: &outputs)
        outputs.inputs(images)
        outputs.outputDirectory(output, "--output", files: names)
        if let originals { outputs.outputDirectory(originals, "--originals", files: names) }
        if let raw { outputs.output(raw, "--raw") }
        try outputs.check()
        common.apply()
        let vq = try model.source.load()
        try vq.checkMemory(batchSize: batch.batchSize)
        try outputs.prepare()
        let runner = VQRunner(vq)
        let reader = BatchReader(paths: images.paths, preset: vq.preset, batchSize: batch.batchSize, policy: .skip,
                                 keepOriginals: originals != nil, threads: common.threadCount, warn: Console.warn)
        let progress = Progress(label: "reconstruct", quiet: common.quiet)
        let rawOutput = StreamedArray(raw)
        var written = 0
        while let b = try reader.next() {
            if b.count > 0 {
                let (_, y) = try runner.reconstruct(b.batch)
                for (k, position) in b.positions.enumerated() {
                    let path = (output as NSString).appendingPathComponent(names[position])
                    try naming(path) { try ImageEncoder.writePNG(try y.image(k, preset: vq.preset), to: path) }
                    if let originals, let o = b.batch.originals?[k] {
                        let path = (originals as NSString).appendingPathComponent(names[position])
                        try naming(path) { try ImageEncoder.writePNG(o, to: path) }
                    }
                    written += 1
                }
                try rawOutput.append(y.raw, shape: y.shape)
            }
            progress.update(b.inputRange.upperBound, images.paths.count)
        }
        try rawOutput.finish()
        let skipped = images.paths.count - written
        if skipped > 0 { Console.warning("\(skipped) of \(images.paths.count) images could not be read and were skipped") }
        if written == 0 { throw PipelineError("no image could be reconstructed") }
        if !common.quiet {
            Console.info(String(format: "reconstructed %d image(s) into %@ in %.2f s (%.2f img/s)", written, output,
                                progress.elapsed, Double(written) / max(progress.elapsed, 1e-9)))
        }
    }
}
