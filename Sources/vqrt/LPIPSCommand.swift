// `vqrt lpips A B` (cli.md "Further metrics"): the mean LPIPS of image pairs matched by file name, as richzhang's
// `lpips` package (version 0.1) computes it with a torchvision backbone.

import ArgumentParser
import Foundation
import Metrics
import Pipeline
import TorchFormats

struct LPIPSCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lpips",
        abstract: "Mean LPIPS of image pairs (two directories matched by file name, or two image files), as the lpips package (v0.1) computes it.")

    @OptionGroup var lpips: LPIPSOptions
    @OptionGroup var batch: BatchOptions
    @OptionGroup var common: RunOptions

    @Argument(help: "The reference images: a directory (pairs are matched by file name without the extension) or one image file.")
    var a: String

    @Argument(help: "The images compared with them: a directory holding an image of each name (of the same size), or one image file.")
    var b: String

    @Flag(help: "Print exactly one JSON object: {\"lpips\", \"n\", \"net\"}.")
    var json = false

    func run() throws {
        let pairs = try ImagePairs(a, b)
        let source = lpips.source
        try source.requireFiles()
        common.apply()
        let model = try source.load()
        var mean = PairMean()
        let progress = Progress(label: "lpips", quiet: common.quiet || json)
        let reader = PairReader(pairs, batchSize: batch.batchSize, threads: common.threadCount)
        while let batch = try reader.next() {
            for d in try model.distances(pairs: batch.a, batch.b) { try mean.add(d) }
            progress.update(batch.range.upperBound, pairs.count)
        }
        let value = mean.mean ?? .nan
        if json {
            print(JSONValue.object([("lpips", .double(value)), ("n", .int(Int64(mean.count))), ("net", .string(source.net.rawValue))]).render())
        } else {
            print("LPIPS (\(source.net.rawValue)): \(value) over \(mean.count) pair(s)")
        }
    }
}
