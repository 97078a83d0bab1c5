// Codebook usage, two ways:
// - windowed, as rotation_trick's `log_codebook_usage` (src/train_utils/utils.py) reports it: the test images
//   are taken in consecutive windows of 256; for each window the share of the codebook that occurs among its codes
//   (`torch.unique(codes).shape[0] / num_codes`); the reported number is the mean over windows. Upstream counts
//   loader batches: a window is `256 // batch_size` batches, i.e. `(256 // batch_size) * batch_size` images, and
//   the run's last window still counts when the short last batch completes its batch count (it then holds more
//   than `(256 // batch_size - 1) * batch_size` images); any other trailing images are dropped.
//   `CodebookUsage.rotationTrick(codebookSize:batchSize:)` sets this up for a loader batch size; the plain
//   initialiser counts full windows only.
// - over the whole run: the share of codes used at all, and the perplexity exp(-Σ_k p_k ln p_k) of the code
//   frequencies p_k.
// - the codebook entropy in bits as bytedance/1d-tokenizer's `VQGANEvaluator` prints it ("CodebookEntropy",
//   evaluator/evaluator.py): p = frequencies / frequencies.sum() over every codebook entry (float64), then
//   Σ_k -log2(p_k + 1e-8) · p_k. The 1e-8 inside the logarithm is theirs: it makes the value slightly smaller than
//   the exact entropy (by ~1.4e-8·K/ln 2 bits at most for K used codes), and unused entries contribute 0.
//
// Windows are numbered by global image index (startIndex + position) / window, so shards of a run can be merged:
// a window split between shards is completed by merging the shards' partial code sets.
import Foundation
import NPY

public struct CodebookUsageResult: Equatable, Sendable {
    /// Mean share of the codebook used per full window (rotation_trick's `codebook_usage`); nil without a full window.
    public let windowedUsage: Double?
    /// Number of full windows behind `windowedUsage`.
    public let windows: Int
    public let windowImages: Int
    /// Distinct codes used over the whole run, and their share of the codebook.
    public let usedCodes: Int
    public let usage: Double
    /// exp(entropy) of the code frequencies over the whole run (natural log).
    public let perplexity: Double
    /// 1d-tokenizer's "CodebookEntropy": Σ -log2(p + 1e-8)·p in bits (0 before any code).
    public let entropyBits: Double
    /// Code indices counted.
    public let totalCodes: Int
}

public struct CodebookUsage: MergeableAccumulator, Sendable {
    public let codebookSize: Int
    public let windowImages: Int
    /// The run's last, incomplete window counts if it holds at least this many images (nil: never).
    public let lastWindowMinimum: Int?
    public let startIndex: Int
    /// Images added so far.
    public private(set) var images = 0
    /// Occurrences of each code over everything added.
    public private(set) var counts: [Int64]

    /// Windows not yet full: window number -> (codes seen as a bit set, images seen).
    private var open: [Int: (bits: [UInt64], images: Int)] = [:]
    /// Full windows: window number -> share of the codebook used.
    private var closed: [Int: Double] = [:]

    /// rotation_trick's window for a loader batch size: `(256 // batchSize) * batchSize` images.
    public static func upstreamWindow(batchSize: Int) -> Int { max(1, 256 / max(batchSize, 1)) * max(batchSize, 1) }

    /// Windows exactly as rotation_trick's loop forms them with a test loader of `batchSize` (see above).
    public static func rotationTrick(codebookSize: Int, batchSize: Int, startIndex: Int = 0) throws -> CodebookUsage {
        guard batchSize > 0 else { throw MetricsError.invalidArgument("batch size \(batchSize)") }
        let batches = max(1, 256 / batchSize)
        return try CodebookUsage(codebookSize: codebookSize, windowImages: batches * batchSize,
                                 lastWindowMinimum: (batches - 1) * batchSize + 1, startIndex: startIndex)
    }

    public init(codebookSize: Int, windowImages: Int = 256, lastWindowMinimum: Int? = nil, startIndex: Int = 0) throws {
        guard codebookSize > 0, codebookSize <= 1 << 26, windowImages > 0, startIndex >= 0,
              (lastWindowMinimum ?? 1) > 0 else {
            throw MetricsError.invalidArgument("codebook usage for \(codebookSize) codes, window \(windowImages), start \(startIndex)")
        }
        self.codebookSize = codebookSize
        self.windowImages = windowImages
        self.lastWindowMinimum = lastWindowMinimum
        self.startIndex = startIndex
        counts = [Int64](repeating: 0, count: codebookSize)
    }

    /// Adds the code indices of `images` consecutive images (each image's codes contiguous, equally many per image,
    /// e.g. the int64 [N, h, w] array of `vqrt encode`).
    public mutating func add(codes: [Int64], images n: Int) throws {
        guard n >= 0, (n == 0 && codes.isEmpty) || (n > 0 && codes.count % n == 0) else {
            throw MetricsError.shapeMismatch("\(codes.count) codes are not \(n) images' worth")
        }
        if n == 0 { return }
        let per = codes.count / n
        for c in codes where c < 0 || c >= Int64(codebookSize) {
            throw MetricsError.invalidArgument("code index \(c) outside the codebook of \(codebookSize)")
        }
        let words = (codebookSize + 63) / 64
        for i in 0..<n {
            let window = (startIndex + images + i) / windowImages
            var entry = open[window] ?? ([UInt64](repeating: 0, count: words), 0)
            for c in codes[(i * per)..<((i + 1) * per)] {
                let k = Int(c)
                counts[k] += 1
                entry.bits[k >> 6] |= 1 << UInt64(k & 63)
            }
            entry.images += 1
            if entry.images == windowImages {
                open[window] = nil
                closed[window] = usage(entry.bits)
            } else {
                open[window] = entry
            }
        }
        images += n
    }

    private func usage(_ bits: [UInt64]) -> Double {
        Double(bits.reduce(0) { $0 + $1.nonzeroBitCount }) / Double(codebookSize)
    }

    public mutating func merge(_ other: CodebookUsage) throws {
        guard other.codebookSize == codebookSize, other.windowImages == windowImages,
              other.lastWindowMinimum == lastWindowMinimum else {
            throw MetricsError.incompatible("codebook usage over \(codebookSize) / \(other.codebookSize) codes, windows \(windowImages) / \(other.windowImages)")
        }
        for (w, _) in other.closed where closed[w] != nil || open[w] != nil {
            throw MetricsError.incompatible("window \(w) is covered by both shards")
        }
        for (w, v) in other.closed { closed[w] = v }
        for (w, e) in other.open {
            if closed[w] != nil { throw MetricsError.incompatible("window \(w) is covered by both shards") }
            if var mine = open[w] {
                for j in mine.bits.indices { mine.bits[j] |= e.bits[j] }
                mine.images += e.images
                if mine.images > windowImages { throw MetricsError.incompatible("window \(w) has more than \(windowImages) images") }
                if mine.images == windowImages { open[w] = nil; closed[w] = usage(mine.bits) } else { open[w] = mine }
            } else {
                open[w] = e
            }
        }
        for k in 0..<codebookSize { counts[k] += other.counts[k] }
        images += other.images
    }

    public var result: CodebookUsageResult {
        // Summed in window order, as the upstream loop appends them. Open windows other than the last one are
        // gaps left by a missing shard and are not counted.
        var windows = closed
        if let minimum = lastWindowMinimum, let last = open.keys.max(), closed.keys.allSatisfy({ $0 < last }),
           let entry = open[last], entry.images >= minimum {
            windows[last] = usage(entry.bits)
        }
        let usages = windows.sorted { $0.key < $1.key }.map(\.value)
        let total = counts.reduce(0, +)
        var entropy = 0.0
        if total > 0 {
            for c in counts where c > 0 {
                let p = Double(c) / Double(total)
                entropy -= p * log(p)
            }
        }
        let used = counts.reduce(0) { $0 + ($1 > 0 ? 1 : 0) }
        return CodebookUsageResult(
            windowedUsage: usages.isEmpty ? nil : usages.reduce(0, +) / Double(usages.count),
            windows: usages.count, windowImages: windowImages, usedCodes: used,
            usage: Double(used) / Double(codebookSize), perplexity: exp(entropy),
            entropyBits: CodebookUsage.entropyBits(counts: counts), totalCodes: Int(total))
    }

    /// 1d-tokenizer's codebook entropy (bits) of per-entry code counts; 0 when nothing was counted.
    public static func entropyBits(counts: [Int64]) -> Double {
        let total = Double(counts.reduce(0, +))
        guard total > 0 else { return 0 }
        var bits = 0.0
        for c in counts where c > 0 {
            let p = Double(c) / total
            bits += -log2(p + 1e-8) * p
        }
        return bits
    }

    public func archived(prefix: String) throws -> [(String, NPYArray)] {
        let openIDs = open.keys.sorted(), closedIDs = closed.keys.sorted()
        let words = (codebookSize + 63) / 64
        return [
            (prefix + "config", try NPYArray(int64s: [Int64(codebookSize), Int64(windowImages), Int64(startIndex),
                                                      Int64(images), Int64(lastWindowMinimum ?? -1)], shape: [5])),
            (prefix + "counts", try NPYArray(int64s: counts, shape: [codebookSize])),
            (prefix + "closed_windows", try NPYArray(int64s: closedIDs.map(Int64.init), shape: [closedIDs.count])),
            (prefix + "closed_usage", try NPYArray(doubles: closedIDs.map { closed[$0]! }, shape: [closedIDs.count])),
            (prefix + "open_windows", try NPYArray(int64s: openIDs.flatMap { [Int64($0), Int64(open[$0]!.images)] },
                                                   shape: [openIDs.count, 2])),
            (prefix + "open_bits", try NPYArray(int64s: openIDs.flatMap { open[$0]!.bits.map { Int64(bitPattern: $0) } },
                                                shape: [openIDs.count, words])),
        ]
    }

    public init(archive: NPZArchive, prefix: String, file: String) throws {
        let bad = { (m: String) in MetricsError.badFile(file: file, message: "codebook usage state '\(prefix)': \(m)") }
        let config = try archive.array(prefix + "config", file: file).int64s()
        guard config.count == 5, config[0...3].allSatisfy({ $0 >= 0 }), config[0] > 0, config[0] <= 1 << 26,
              config[1] > 0, config[4] == -1 || config[4] > 0 else { throw bad("bad config") }
        try self.init(codebookSize: Int(config[0]), windowImages: Int(config[1]),
                      lastWindowMinimum: config[4] < 0 ? nil : Int(config[4]), startIndex: Int(config[2]))
        images = Int(config[3])
        let c = try archive.array(prefix + "counts", file: file)
        guard c.shape == [codebookSize] else { throw bad("counts of shape \(c.shape)") }
        counts = try c.int64s()
        let ids = try archive.array(prefix + "closed_windows", file: file).int64s()
        let usages = try archive.array(prefix + "closed_usage", file: file).doubles()
        guard ids.count == usages.count else { throw bad("closed windows and usages differ in number") }
        for (w, u) in zip(ids, usages) { closed[Int(w)] = u }
        let ow = try archive.array(prefix + "open_windows", file: file)
        let ob = try archive.array(prefix + "open_bits", file: file)
        let words = (codebookSize + 63) / 64
        guard ow.shape.count == 2, ow.shape[1] == 2, ob.shape == [ow.shape[0], words] else { throw bad("open windows of shape \(ow.shape)") }
        let owv = try ow.int64s(), obv = try ob.int64s()
        for i in 0..<ow.shape[0] {
            let bits = obv[(i * words)..<((i + 1) * words)].map { UInt64(bitPattern: $0) }
            open[Int(owv[2 * i])] = (bits, Int(owv[2 * i + 1]))
        }
    }
}
