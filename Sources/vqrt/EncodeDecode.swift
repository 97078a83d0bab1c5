// `vqrt encode` (images → code indices, optionally latents) and `vqrt decode` (codes → images) (cli.md).

import ArgumentParser
import Foundation
import Imaging
import Models
import NPY
import Tensor

struct Encode: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Encode images to code indices (int64 [N, h, w]).")

    @OptionGroup var model: ModelOptions
    @OptionGroup var options: RunOptions

    @Argument(help: "Image files or directories.")
    var images: [String]

    @Option(help: "Where to write the codes (.npy, int64 [N, h, w]).")
    var codes: String

    @Option(help: "Also write the quantizer's input (float32; [N, C, h, w], vit-vqgan [N, T, C]).")
    var latents: String?

    func run() throws {
        try reportingErrors(file: nil) {
            try options.apply()
            let paths = try ImageInputs.expand(images)
            let loaded = try reportingFile(model.checkpoint) { try model.load() }
            let preset = try model.preset(for: loaded.model)
            let progress = Progress(total: paths.count, label: "encode", quiet: options.quiet)
            var allCodes: [Int64] = [], codeShape: [Int] = []
            let latentOutput = StreamedArray(latents)
            var skipped = 0
            for start in stride(from: 0, to: paths.count, by: options.batchSize) {
                let range = start..<min(start + options.batchSize, paths.count)
                let batch = BatchLoader.load(paths: Array(paths[range]), preset: preset, threads: options.workerThreads)
                for f in batch.failures { Console.warning("\(f.path): \(f.error) (skipped)"); skipped += 1 }
                if batch.count > 0 {
                    let x = try Tensor(shape: [batch.count, 3, batch.height, batch.width], values: batch.tensor)
                    let e = try loaded.model.encode(x)
                    allCodes += e.codes.map(Int64.init)
                    codeShape = e.codeShape
                    if latents != nil { try latentOutput.append(e.latents.plain().toArray(), shape: e.latents.shape) }
                }
                progress.advance(by: range.count)
            }
            guard !codeShape.isEmpty else { throw CLIError("no image could be encoded") }
            let n = allCodes.count / (codeShape[1] * codeShape[2])
            try NPY.write(int64s: allCodes, shape: [n] + codeShape.dropFirst(), to: codes)
            try latentOutput.finish()
            if !options.quiet { Console.info("encoded \(n) image(s) to \(codes)" + (skipped > 0 ? " (\(skipped) skipped)" : "")) }
        }
    }
}

struct Decode: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Decode code indices (.npy int64/int32 [N, h, w]) to images.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var options: RunOptions

    @Option(help: "Code indices (.npy, int64 or int32, the shape `encode` writes).")
    var codes: String

    @Option(help: "Directory for the images (000000.png, 000001.png, ...).")
    var output: String

    @Option(help: "Also write the decoder outputs, float32 [N, 3, H, W], to this .npy.")
    var raw: String?

    func run() throws {
        try reportingErrors(file: nil) {
            try options.apply()
            let array = try reportingFile(codes) { try NPY.read(path: codes) }
            guard array.dtype.isInteger, array.shape.count == 3 else {
                throw CLIError("\((codes as NSString).lastPathComponent): codes must be an integer array [N, h, w], got \(array.dtype) \(array.shape)")
            }
            let values = try array.int64s()
            let loaded = try reportingFile(model.checkpoint) { try model.load() }
            let preset = try model.preset(for: loaded.model)
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            let n = array.shape[0], per = array.shape[1] * array.shape[2]
            let progress = Progress(total: n, label: "decode", quiet: options.quiet)
            let rawOutput = StreamedArray(raw)
            for start in stride(from: 0, to: n, by: options.batchSize) {
                let count = min(options.batchSize, n - start)
                let slice = values[(start * per)..<((start + count) * per)].map { v -> Int in
                    v >= Int64(Int.min) && v <= Int64(Int.max) ? Int(v) : -1
                }
                let y = try reportingFile(codes) { try loaded.model.decode(codes: slice, shape: [count, array.shape[1], array.shape[2]]) }
                let out = y.plain().toArray()
                let h = y.shape[2], w = y.shape[3], plane = 3 * h * w
                for k in 0..<count {
                    let img = try preset.pixels(chw: Array(out[(k * plane)..<((k + 1) * plane)]), width: w, height: h)
                    try writePNG(img, (output as NSString).appendingPathComponent(String(format: "%06d.png", start + k)))
                }
                try rawOutput.append(out, shape: [count, 3, h, w])
                progress.advance(by: count)
            }
            try rawOutput.finish()
            if !options.quiet { Console.info("decoded \(n) image(s) into \(output)") }
        }
    }
}
