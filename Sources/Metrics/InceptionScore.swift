// Inception Score as pytorch-image-generation-metrics 0.6.1 computes it (numpy path, spec/metrics.md §6):
// probabilities = float32 softmax of the unbiased 1008-way logits, widened to float64; N images in input order are
// cut into `splits` contiguous parts, part k = rows [k·N/splits, (k+1)·N/splits) (floor division);
//   IS_k = exp( mean_i Σ_c p_ic (log p_ic - log p̄_kc) ),  p̄_k = mean_i p_i over the part,
//   IS = mean_k IS_k,  std = population standard deviation (np.std, ddof 0) of the IS_k.
//
// Streaming: with the number of images known up front, each part needs only Σ_i p_i (float64 [classes]),
// Σ_i Σ_c p_ic·log p_ic and its image count, since
//   Σ_i Σ_c p_ic (log p_ic - log p̄_kc) = Σ_i Σ_c p_ic log p_ic - Σ_c (Σ_i p_ic) log p̄_kc.
// Images are placed in parts by their global index (`startIndex` + position), so shards of one run merge by
// adding their sums. Without a known total the float32 probabilities are kept (4 KiB per image) and split at the
// end. A probability that underflowed to 0 contributes 0 (the limit of p·log p); PIGM would produce NaN there.
import Foundation
import NPY
import Tensor

public struct InceptionScore: Equatable, Sendable {
    public let mean: Double
    public let std: Double
    public let splits: Int
    public let count: Int
    /// IS of each part, in order.
    public let perSplit: [Double]
}

public struct InceptionScoreAccumulator: MergeableAccumulator, Sendable {
    public let splits: Int
    public let classes: Int
    /// Total number of images of the run, if known (streaming mode).
    public let expectedCount: Int?
    /// Global index of this accumulator's first image.
    public let startIndex: Int
    /// Images added so far.
    public private(set) var count = 0

    // Streaming mode: per part.
    private var sumP: [[Double]] = []
    private var sumPLogP: [Double] = []
    private var partCounts: [Int] = []
    /// Image ranges (start, count) covered, to refuse overlapping merges.
    private var ranges: [(Int, Int)] = []
    // Buffering mode.
    private var probabilities: [Float] = []

    /// - Parameters:
    ///   - expectedCount: the run's total number of images; nil keeps every probability vector until `result()`.
    ///   - startIndex: global index of the first image this accumulator will see (for sharded runs).
    public init(splits: Int = 10, classes: Int = 1008, expectedCount: Int? = nil, startIndex: Int = 0) throws {
        guard splits > 0, classes > 0, startIndex >= 0, splits <= 1 << 20, classes <= 1 << 20,
              splits * classes <= 1 << 28 else {
            throw MetricsError.invalidArgument("IS with \(splits) splits over \(classes) classes from image \(startIndex)")
        }
        if let n = expectedCount {
            guard n >= splits else {
                throw MetricsError.notEnoughSamples("an Inception Score with \(splits) splits needs at least \(splits) images, got \(n)")
            }
            guard startIndex <= n else { throw MetricsError.invalidArgument("start index \(startIndex) beyond \(n) images") }
        }
        self.splits = splits
        self.classes = classes
        self.expectedCount = expectedCount
        self.startIndex = startIndex
        if expectedCount != nil {
            sumP = Array(repeating: [Double](repeating: 0, count: classes), count: splits)
            sumPLogP = [Double](repeating: 0, count: splits)
            partCounts = [Int](repeating: 0, count: splits)
        }
    }

    /// Adds images by their logits ([rows, classes] float32): softmax in float32 first, as PIGM does on its device.
    public mutating func add(logits: Tensor) throws {
        guard logits.rank == 2, logits.shape[1] == classes else {
            throw MetricsError.shapeMismatch("logits \(logits.shape), expected [N, \(classes)]")
        }
        let p = try logits.softmax()
        try add(probabilities: UnsafeBufferPointer(start: p.pointer, count: p.count), rows: p.shape[0])
    }

    /// Adds images by their logits, row-major [rows, classes].
    public mutating func add(logits: [Float]) throws {
        guard logits.count % classes == 0 else {
            throw MetricsError.shapeMismatch("\(logits.count) logits are not whole rows of \(classes)")
        }
        try add(logits: try Tensor(shape: [logits.count / classes, classes], values: logits))
    }

    /// Adds images by their class probabilities (float32 [rows, classes], each row a softmax output).
    public mutating func add(probabilities p: UnsafeBufferPointer<Float>, rows: Int) throws {
        guard rows >= 0, p.count == rows * classes else {
            throw MetricsError.shapeMismatch("\(p.count) probabilities are not \(rows) rows of \(classes)")
        }
        guard let n = expectedCount else {
            probabilities.append(contentsOf: p)
            count += rows
            return
        }
        guard startIndex + count + rows <= n else {
            throw MetricsError.invalidArgument("more images than the \(n) announced")
        }
        for r in 0..<rows {
            let index = startIndex + count + r
            let k = InceptionScoreAccumulator.part(of: index, total: n, splits: splits)
            let row = p.baseAddress! + r * classes
            var plogp = 0.0
            sumP[k].withUnsafeMutableBufferPointer { s in
                for c in 0..<classes {
                    let v = Double(row[c])
                    s[c] += v
                    if v > 0 { plogp += v * log(v) }
                }
            }
            sumPLogP[k] += plogp
            partCounts[k] += 1
        }
        if rows > 0 { ranges.append((startIndex + count, rows)) }
        count += rows
    }

    /// The part that image `index` of `total` falls in: the k with k·total/splits <= index < (k+1)·total/splits.
    static func part(of index: Int, total: Int, splits: Int) -> Int {
        var k = min(splits - 1, index * splits / max(total, 1))
        while k > 0 && index < k * total / splits { k -= 1 }
        while k < splits - 1 && index >= (k + 1) * total / splits { k += 1 }
        return k
    }

    /// Folds in another shard of the same run (streaming mode: any order, no overlap) or the images that follow
    /// this accumulator's (buffering mode).
    public mutating func merge(_ other: InceptionScoreAccumulator) throws {
        guard other.splits == splits, other.classes == classes, other.expectedCount == expectedCount else {
            throw MetricsError.incompatible("IS accumulators with different splits, classes or totals")
        }
        if expectedCount == nil {
            guard other.startIndex == startIndex + count else {
                throw MetricsError.incompatible("IS shards must be contiguous: images \(startIndex)..<\(startIndex + count) then \(other.startIndex)")
            }
            probabilities.append(contentsOf: other.probabilities)
            count += other.count
            return
        }
        for (s, c) in other.ranges {
            for (s2, c2) in ranges where s < s2 + c2 && s2 < s + c {
                throw MetricsError.incompatible("IS shards overlap (images \(max(s, s2))..<\(min(s + c, s2 + c2)))")
            }
        }
        for k in 0..<splits {
            for c in 0..<classes { sumP[k][c] += other.sumP[k][c] }
            sumPLogP[k] += other.sumPLogP[k]
            partCounts[k] += other.partCounts[k]
        }
        ranges += other.ranges
        count += other.count
    }

    /// The score over every image added (all of the announced total in streaming mode).
    public func result() throws -> InceptionScore {
        var sums = sumP, plogp = sumPLogP, counts = partCounts
        let n: Int
        if let total = expectedCount {
            guard count == total else {
                throw MetricsError.notEnoughSamples("the IS was announced for \(total) images but \(count) were added")
            }
            n = total
        } else {
            n = count
            guard n >= splits else {
                throw MetricsError.notEnoughSamples("an Inception Score with \(splits) splits needs at least \(splits) images, got \(n)")
            }
            sums = Array(repeating: [Double](repeating: 0, count: classes), count: splits)
            plogp = [Double](repeating: 0, count: splits)
            counts = [Int](repeating: 0, count: splits)
            probabilities.withUnsafeBufferPointer { p in
                for i in 0..<n {
                    let k = InceptionScoreAccumulator.part(of: i, total: n, splits: splits)
                    let row = p.baseAddress! + i * classes
                    var t = 0.0
                    for c in 0..<classes {
                        let v = Double(row[c])
                        sums[k][c] += v
                        if v > 0 { t += v * log(v) }
                    }
                    plogp[k] += t
                    counts[k] += 1
                }
            }
        }
        var scores: [Double] = []
        for k in 0..<splits {
            let m = Double(counts[k])
            // Σ_c S_c log(S_c / m), skipping classes no image of the part gives any probability.
            var cross = 0.0
            for c in 0..<classes where sums[k][c] > 0 { cross += sums[k][c] * log(sums[k][c] / m) }
            scores.append(exp((plogp[k] - cross) / m))
        }
        let mean = scores.reduce(0, +) / Double(splits)
        let variance = scores.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(splits)
        return InceptionScore(mean: mean, std: variance.squareRoot(), splits: splits, count: n, perSplit: scores)
    }

    public func archived(prefix: String) throws -> [(String, NPYArray)] {
        var items: [(String, NPYArray)] = [
            (prefix + "config", try NPYArray(int64s: [Int64(splits), Int64(classes), Int64(expectedCount ?? -1),
                                                      Int64(startIndex), Int64(count)], shape: [5])),
        ]
        if expectedCount != nil {
            items.append((prefix + "sum_p", try NPYArray(doubles: sumP.flatMap { $0 }, shape: [splits, classes])))
            items.append((prefix + "sum_plogp", try NPYArray(doubles: sumPLogP, shape: [splits])))
            items.append((prefix + "part_counts", try NPYArray(int64s: partCounts.map(Int64.init), shape: [splits])))
            items.append((prefix + "ranges", try NPYArray(int64s: ranges.flatMap { [Int64($0.0), Int64($0.1)] },
                                                          shape: [ranges.count, 2])))
        } else {
            items.append((prefix + "probabilities", try NPYArray(floats: probabilities, shape: [count, classes])))
        }
        return items
    }

    public init(archive: NPZArchive, prefix: String, file: String) throws {
        let bad = { (m: String) in MetricsError.badFile(file: file, message: "IS state '\(prefix)': \(m)") }
        let config = try archive.array(prefix + "config", file: file).int64s()
        guard config.count == 5, config[0] > 0, config[1] > 0, config[1] <= 1 << 20, config[2] >= -1, config[3] >= 0,
              config[4] >= 0 else { throw bad("bad config") }
        try self.init(splits: Int(config[0]), classes: Int(config[1]),
                      expectedCount: config[2] < 0 ? nil : Int(config[2]), startIndex: Int(config[3]))
        count = Int(config[4])
        if expectedCount != nil {
            let s = try archive.array(prefix + "sum_p", file: file)
            let l = try archive.array(prefix + "sum_plogp", file: file)
            let c = try archive.array(prefix + "part_counts", file: file)
            let r = try archive.array(prefix + "ranges", file: file)
            guard s.shape == [splits, classes], l.shape == [splits], c.shape == [splits], r.shape.count == 2,
                  r.shape[1] == 2 else { throw bad("arrays of the wrong shape") }
            let flat = try s.doubles()
            sumP = (0..<splits).map { Array(flat[($0 * classes)..<(($0 + 1) * classes)]) }
            sumPLogP = try l.doubles()
            partCounts = try c.int64s().map { Int($0) }
            let rr = try r.int64s()
            ranges = stride(from: 0, to: rr.count, by: 2).map { (Int(rr[$0]), Int(rr[$0 + 1])) }
            guard partCounts.reduce(0, +) == count else { throw bad("part counts do not add up to \(count)") }
        } else {
            let p = try archive.array(prefix + "probabilities", file: file)
            guard p.shape == [count, classes] else { throw bad("probabilities have shape \(p.shape)") }
            probabilities = try p.floats()
        }
    }
}
