// `vqrt encode` (images -> code indices, optionally latents) and `vqrt decode` (codes -> images) (cli.md).

import ArgumentParser
import Foundation
import Imaging
import Models
import NPY
import Pipeline

struct Encode: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Encode images to code indices (int64 [N, h, w]).")

    @OptionGroup var model: ModelOptions
    @OptionGroup var batch: BatchOptions
    @OptionGroup var common: RunOptions
    @OptionGroup var failures: FailureOptions

    @Argument(help: "Image files or directories (a directory: its image files, sorted by name).")
    var images: [String]

    @Option(help: "Where to write the codes (.npy, int64 [N, h, w], rows in input order). With --skip-unreadable, the inputs the rows hold are listed in CODES-without-.npy.files.txt.")
    var codes: String

    @Option(help: "Also write the quantizer's input (float32; [N, C, h, w], vit-vqgan [N, T, C]).")
    var latents: String?

    var fileList: String { ((codes as NSString).deletingPathExtension) + ".files.txt" }

    func run() throws {
        let images = try ImageList(self.images)
        var outputs = OutputGuard()
        model.source.register(in: &outputs)
        outputs.inputs(images)
        outputs.output(codes, "--codes")
        if let latents { outputs.output(latents, "--latents") }
        if failures.skipUnreadable { outputs.output(fileList, "the list of encoded images") }
        try outputs.check()
        common.apply()
        let vq = try model.source.load()
        try vq.checkMemory(batchSize: batch.batchSize)
        try outputs.prepare()
        let runner = VQRunner(vq)
        let reader = BatchReader(paths: images.paths, preset: vq.preset, batchSize: batch.batchSize, policy: failures.policy,
                                 threads: common.threadCount, warn: Console.warn)
        let progress = Progress(label: "encode", quiet: common.quiet)
        var allCodes: [Int64] = [], grid: [Int] = [], encoded: [String] = []
        let latentOutput = StreamedArray(latents)
        while let b = try reader.next() {
            if b.count > 0 {
                let e = try runner.encode(b.batch)
                allCodes += e.codes.map(Int64.init)
                grid = Array(e.codeShape.dropFirst())
                encoded += b.batch.files
                if latents != nil { try latentOutput.append(e.latents.plain().toArray(), shape: e.latents.shape) }
            }
            progress.update(b.inputRange.upperBound, images.paths.count)
        }
        guard !grid.isEmpty else { throw PipelineError("no image could be encoded") }
        try naming(codes) { try NPY.write(int64s: allCodes, shape: [encoded.count] + grid, to: codes) }
        try latentOutput.finish()
        if failures.skipUnreadable { try FileSystem.writeAtomically(encoded.joined(separator: "\n") + "\n", to: fileList) }
        let skipped = images.paths.count - encoded.count
        if skipped > 0 { Console.warning("\(skipped) of \(images.paths.count) images could not be read and were skipped (rows: \(fileList))") }
        if !common.quiet { Console.info("encoded \(encoded.count) image(s) to \(codes)") }
    }
}

struct Decode: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Decode code indices (.npy int64/int32 [N, h, w]) to images.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var batch: BatchOptions
    @OptionGroup var common: RunOptions

    @Option(help: "Code indices (.npy, int64 or int32, the shape `encode` writes).")
    var codes: String

    @Option(help: "Directory for the images (000000.png, 000001.png, ...).")
    var output: String

    @Option(help: "Also write the decoder outputs, float32 [N, 3, H, W], to this .npy.")
    var raw: String?

    static func imageName(_ i: Int) -> String { String(format: "%06d.png", i) }

    func run() throws {
        var outputs = OutputGuard()
        model.source.register(in: &outputs)
        outputs.input(codes, "the codes")
        outputs.outputDirectory(output, "--output")
        if let raw { outputs.output(raw, "--raw") }
        try FileSystem.requireReadableFile(codes)
        try outputs.check()
        let array = try naming(codes) { try NPY.read(path: codes) }
        guard array.dtype.isInteger, array.shape.count == 3 else {
            throw PipelineError(file: codes, "codes must be an integer array [N, h, w], got \(array.dtype) \(array.shape)")
        }
        // The images this will write must not be inputs either (their names are known once N is).
        var named = OutputGuard()
        model.source.register(in: &named)
        named.input(codes, "the codes")
        named.outputDirectory(output, "--output", files: (0..<array.shape[0]).map(Decode.imageName))
        try named.check()
        common.apply()
        let vq = try model.source.load()
        let runner = VQRunner(vq)
        try runner.checkDecode(codeShape: array.shape, batchSize: batch.batchSize)
        try outputs.prepare()
        try named.prepare()
        let values = try naming(codes) { try array.int64s() }
        let n = array.shape[0], per = array.shape[1] * array.shape[2]
        let progress = Progress(label: "decode", quiet: common.quiet)
        let rawOutput = StreamedArray(raw)
        for start in stride(from: 0, to: n, by: batch.batchSize) {
            let count = min(batch.batchSize, n - start)
            let slice = values[(start * per)..<((start + count) * per)].map { v -> Int in
                v >= Int64(Int.min) && v <= Int64(Int.max) ? Int(v) : -1
            }
            let y = try naming(codes) { try runner.decode(codes: slice, shape: [count, array.shape[1], array.shape[2]]) }
            for k in 0..<count {
                let path = (output as NSString).appendingPathComponent(Decode.imageName(start + k))
                try naming(path) { try ImageEncoder.writePNG(try y.image(k, preset: vq.preset), to: path) }
            }
            try rawOutput.append(y.raw, shape: y.shape)
            progress.update(start + count, n)
        }
        try rawOutput.finish()
        if !common.quiet { Console.info("decoded \(n) image(s) into \(output)") }
    }
}
