// `vqrt ssim A B` (cli.md "Further metrics"): the mean SSIM of image pairs matched by file name, under the
// definition of the tool named by --variant (README "Paper metrics").

import ArgumentParser
import Foundation
import Metrics
import Pipeline
import TorchFormats

struct SSIM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ssim",
        abstract: "Mean SSIM of image pairs (two directories matched by file name, or two image files), as torchmetrics, pytorch-msssim or scikit-image computes it.")

    @OptionGroup var batch: BatchOptions
    @OptionGroup var common: RunOptions

    @Argument(help: "The reference images: a directory (pairs are matched by file name without the extension) or one image file.")
    var a: String

    @Argument(help: "The images compared with them: a directory holding an image of each name (of the same size), or one image file.")
    var b: String

    @Option(help: "torchmetrics (default: torchmetrics 1.9, reflect-padded, whole map), pytorch-msssim (pytorch_msssim: valid region) or skimage (scikit-image: 7x7 uniform window, sample covariance).")
    var variant: SSIMVariant = .torchmetrics

    @Option(help: "Data range L of the constants (K·L)², in the variant's units: default 1 for torchmetrics and pytorch-msssim ([0, 1] images), 255 for skimage (uint8). LlamaGen's evaluator (skimage, [0, 1] images, data_range 2.0) is --variant skimage --data-range 510.")
    var dataRange: Double?

    @Flag(help: "Print exactly one JSON object: {\"ssim\", \"n\", \"variant\", \"data_range\"}.")
    var json = false

    func validate() throws {
        if let r = dataRange, !(r.isFinite && r > 0) { throw ValidationError("--data-range must be a positive number, got \(r)") }
    }

    func run() throws {
        let pairs = try ImagePairs(a, b)
        let ssim: StructuralSimilarity
        do { ssim = try StructuralSimilarity(variant: variant, dataRange: dataRange) } catch { throw PipelineError("\(error)") }
        common.apply()
        var mean = PairMean()
        let progress = Progress(label: "ssim", quiet: common.quiet || json)
        let reader = PairReader(pairs, batchSize: batch.batchSize, threads: common.threadCount)
        while let batch = try reader.next() {
            for k in batch.a.indices {
                let i = batch.range.lowerBound + k
                do { try mean.add(try ssim(batch.a[k], batch.b[k])) } catch {
                    throw PipelineError("\(pairs.a.paths[i]), \(pairs.b.paths[i]): \(error)")
                }
            }
            progress.update(batch.range.upperBound, pairs.count)
        }
        let value = mean.mean ?? .nan
        if json {
            print(JSONValue.object([("ssim", .double(value)), ("n", .int(Int64(mean.count))), ("variant", .string(variant.rawValue)),
                                    ("data_range", .double(ssim.dataRange ?? .nan))]).render())
        } else {
            print("SSIM (\(variant.rawValue)): \(value) over \(mean.count) pair(s)")
        }
    }
}
