// Reconstruction statistics, each a small mergeable accumulator fed batch by batch:
// - `SquaredErrorStatistics`: mean squared error between two float tensors. In the model's input space it is the
//   reconstruction MSE (`F.mse_loss(x_rec, x)` over every element); between the quantizer's input and the chosen
//   codes it is the quantisation error, reported per element and as the mean squared distance per code vector.
// - `PSNRStatistics`: PSNR of 8-bit images, per image as scikit-image's `peak_signal_noise_ratio(a, b,
//   data_range=255)` = 10·log10(255² / MSE_i), averaged over images. An identical pair has infinite PSNR; it is
//   counted apart and left out of the mean (which would otherwise be infinite). The PSNR of the pooled MSE is
//   reported as well.
// Sums are float64, accumulated per call in 16 partial sums, then added to the running totals.
import Foundation
import NPY

public struct SquaredErrorStatistics: MergeableAccumulator, Sendable {
    /// Σ (a - b)² over every element added.
    public private(set) var sum = 0.0
    public private(set) var elements = 0
    /// Number of vectors (elements / vector length of each call).
    public private(set) var vectors = 0

    public init() {}

    /// Adds element pairs; `vectorLength` groups them into vectors for `meanSquaredDistance` (the channel count
    /// for [N, C, h, w] latents, whatever the layout: only the number of vectors matters).
    public mutating func add(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>, vectorLength: Int = 1) throws {
        guard a.count == b.count else { throw MetricsError.shapeMismatch("\(a.count) values against \(b.count)") }
        guard vectorLength > 0, a.count % vectorLength == 0 else {
            throw MetricsError.shapeMismatch("\(a.count) values are not whole vectors of \(vectorLength)")
        }
        var lanes = SIMD16<Double>()
        var i = 0
        let n = a.count
        while i + 16 <= n {
            var d = SIMD16<Double>()
            for l in 0..<16 { d[l] = Double(a[i + l]) - Double(b[i + l]) }
            lanes += d * d
            i += 16
        }
        var s = lanes.sum()
        while i < n { let d = Double(a[i]) - Double(b[i]); s += d * d; i += 1 }
        guard s.isFinite else { throw MetricsError.notFinite("squared error of values containing NaN or infinity") }
        sum += s
        elements += n
        vectors += n / vectorLength
    }

    public mutating func add(_ a: [Float], _ b: [Float], vectorLength: Int = 1) throws {
        try a.withUnsafeBufferPointer { pa in try b.withUnsafeBufferPointer { pb in try add(pa, pb, vectorLength: vectorLength) } }
    }

    /// Mean over elements (MSE); nil before any element.
    public var meanSquaredError: Double? { elements > 0 ? sum / Double(elements) : nil }
    /// Mean over vectors of the squared Euclidean distance; nil before any vector.
    public var meanSquaredDistance: Double? { vectors > 0 ? sum / Double(vectors) : nil }

    public mutating func merge(_ other: SquaredErrorStatistics) throws {
        sum += other.sum
        elements += other.elements
        vectors += other.vectors
    }

    public func archived(prefix: String) throws -> [(String, NPYArray)] {
        [(prefix + "sum", try NPYArray(doubles: [sum], shape: [])),
         (prefix + "counts", try NPYArray(int64s: [Int64(elements), Int64(vectors)], shape: [2]))]
    }

    public init(archive: NPZArchive, prefix: String, file: String) throws {
        let s = try archive.array(prefix + "sum", file: file).doubles()
        let c = try archive.array(prefix + "counts", file: file).int64s()
        guard s.count == 1, c.count == 2, c[0] >= 0, c[1] >= 0 else {
            throw MetricsError.badFile(file: file, message: "squared-error state '\(prefix)' is malformed")
        }
        sum = s[0]; elements = Int(c[0]); vectors = Int(c[1])
    }
}

public struct PSNRResult: Equatable, Sendable {
    /// Mean over images of the per-image PSNR (dB), leaving out identical pairs; nil if every pair is identical.
    public let meanPSNR: Double?
    public let images: Int
    /// Pairs with zero error (infinite PSNR).
    public let identical: Int
    /// MSE of all pixel values together, on the 0...255 scale, and its PSNR (nil when zero).
    public let pooledMSE: Double
    public let pooledPSNR: Double?
}

public struct PSNRStatistics: MergeableAccumulator, Sendable {
    public let peak: Double
    private var psnrSum = 0.0
    private var finiteImages = 0
    private var identical = 0
    private var squaredErrorSum = 0.0
    private var values = 0

    /// `peak`: the data range (255 for 8-bit images).
    public init(peak: Double = 255) { self.peak = peak }

    /// Adds `images` pairs of 8-bit images of equal size (each image's bytes contiguous, any channel layout).
    public mutating func add(original: [UInt8], reconstruction: [UInt8], images n: Int) throws {
        guard original.count == reconstruction.count, n > 0, original.count % n == 0, !original.isEmpty else {
            throw MetricsError.shapeMismatch("\(original.count) and \(reconstruction.count) bytes are not \(n) image pairs")
        }
        let per = original.count / n
        original.withUnsafeBufferPointer { a in
            reconstruction.withUnsafeBufferPointer { b in
                for i in 0..<n {
                    // Integer squares: the per-image sum is exact, as in numpy's float64 mean.
                    var s: Int64 = 0
                    for j in (i * per)..<((i + 1) * per) { let d = Int64(a[j]) - Int64(b[j]); s += d * d }
                    squaredErrorSum += Double(s)
                    if s == 0 { identical += 1; continue }
                    let mse = Double(s) / Double(per)
                    psnrSum += 10 * log10(peak * peak / mse)
                    finiteImages += 1
                }
            }
        }
        values += original.count
    }

    public var result: PSNRResult {
        let pooled = values > 0 ? squaredErrorSum / Double(values) : 0
        return PSNRResult(meanPSNR: finiteImages > 0 ? psnrSum / Double(finiteImages) : nil,
                          images: finiteImages + identical, identical: identical, pooledMSE: pooled,
                          pooledPSNR: pooled > 0 ? 10 * log10(peak * peak / pooled) : nil)
    }

    public mutating func merge(_ other: PSNRStatistics) throws {
        guard other.peak == peak else { throw MetricsError.incompatible("PSNR with peaks \(peak) and \(other.peak)") }
        psnrSum += other.psnrSum
        finiteImages += other.finiteImages
        identical += other.identical
        squaredErrorSum += other.squaredErrorSum
        values += other.values
    }

    public func archived(prefix: String) throws -> [(String, NPYArray)] {
        [(prefix + "sums", try NPYArray(doubles: [peak, psnrSum, squaredErrorSum], shape: [3])),
         (prefix + "counts", try NPYArray(int64s: [Int64(finiteImages), Int64(identical), Int64(values)], shape: [3]))]
    }

    public init(archive: NPZArchive, prefix: String, file: String) throws {
        let s = try archive.array(prefix + "sums", file: file).doubles()
        let c = try archive.array(prefix + "counts", file: file).int64s()
        guard s.count == 3, c.count == 3, c.allSatisfy({ $0 >= 0 }), s[0] > 0 else {
            throw MetricsError.badFile(file: file, message: "PSNR state '\(prefix)' is malformed")
        }
        self.init(peak: s[0])
        psnrSum = s[1]; squaredErrorSum = s[2]
        finiteImages = Int(c[0]); identical = Int(c[1]); values = Int(c[2])
    }
}
