// Two image folders compared image by image (`ssim`, `lpips`, `compare`): pairs matched by file name without the
// extension (`n01440764_10026.JPEG` pairs with `n01440764_10026.png`, the name `vqrt reconstruct` gives it), every
// name in both folders, in the first folder's order (file names in byte order). Everything is checked before any
// image is decoded. Then the pairs are read in batches, decoded on the side while the caller computes.

import Foundation
import Imaging

public struct ImagePairs: Sendable {
    /// The first folder's images (originals) and their partners, in the same order.
    public let a: ImageList
    public let b: ImageList
    public var count: Int { a.paths.count }

    /// Matches the images of two directories (or pairs two image files).
    public init(_ first: String, _ second: String) throws {
        let kinds = [FileSystem.kind(first), FileSystem.kind(second)]
        for (path, kind) in zip([first, second], kinds) where kind == nil {
            throw PipelineError(file: path, "no such file or directory")
        }
        switch (kinds[0], kinds[1]) {
        case (.directory?, .directory?):
            let la = try ImageList([first]), lb = try ImageList([second])
            let index = try ImagePairs.byName(lb, directory: second)
            let names = try ImagePairs.byName(la, directory: first)
            let missing = la.paths.filter { index[ImagePairs.stem($0)] == nil }
            let extra = lb.paths.filter { names[ImagePairs.stem($0)] == nil }
            if !missing.isEmpty || !extra.isEmpty {
                func list(_ p: [String]) -> String {
                    p.prefix(3).map { ($0 as NSString).lastPathComponent }.joined(separator: ", ") + (p.count > 3 ? " and \(p.count - 3) more" : "")
                }
                var parts: [String] = []
                if !missing.isEmpty { parts.append("\(missing.count) image(s) of \(first) have no partner in \(second) (\(list(missing)))") }
                if !extra.isEmpty { parts.append("\(extra.count) image(s) of \(second) have no partner in \(first) (\(list(extra)))") }
                throw PipelineError("pairs are matched by file name: " + parts.joined(separator: "; "))
            }
            a = la
            b = ImageList(paths: la.paths.map { index[ImagePairs.stem($0)]! }, directories: [second], arguments: [second])
        case (.directory?, _), (_, .directory?):
            throw PipelineError("compare two directories (pairs matched by file name) or two image files, not \(first) and \(second)")
        default:
            a = try ImageList([first])
            b = try ImageList([second])
        }
    }

    static func stem(_ path: String) -> String { ((path as NSString).lastPathComponent as NSString).deletingPathExtension }

    /// Name without extension -> path; two files of one name (`x.png`, `x.jpg`) cannot be paired.
    static func byName(_ list: ImageList, directory: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for p in list.paths {
            let s = stem(p)
            if let other = out[s] {
                throw PipelineError(file: directory, "holds both \((other as NSString).lastPathComponent) and \((p as NSString).lastPathComponent): pairs are matched by the name without its extension")
            }
            out[s] = p
        }
        return out
    }

    /// The first `n` pairs.
    public func prefix(_ n: Int) -> ImagePairs { ImagePairs(a: a.prefix(n), b: b.prefix(n)) }

    private init(a: ImageList, b: ImageList) { self.a = a; self.b = b }

    /// Registers both sides as inputs (nothing may be written over them).
    public func register(in guard_: inout OutputGuard) {
        guard_.inputs(a)
        guard_.inputs(b)
    }
}

/// A batch of decoded pairs: `a[k]` and `b[k]` are pair `range.lowerBound + k`, of the same size.
public struct PairBatch: @unchecked Sendable {
    public let range: Range<Int>
    public let a: [RGBImage]
    public let b: [RGBImage]
}

/// Reads pairs in input order; an image that cannot be decoded, or a pair of two sizes, stops the run with an
/// error naming the file(s): every metric here is an average over all pairs.
public final class PairReader {
    private let ahead: ReadAhead<Result<PairBatch, Error>>

    public init(_ pairs: ImagePairs, range: Range<Int>? = nil, batchSize: Int, threads: Int) {
        let a = pairs.a.paths, b = pairs.b.paths
        ahead = ReadAhead(range: range ?? 0..<pairs.count, batchSize: batchSize, threads: threads) { range, threads in
            Result { try PairReader.load(a: a, b: b, range: range, threads: threads) }
        }
    }

    public func next() throws -> PairBatch? {
        guard let (_, result) = ahead.next() else { return nil }
        return try result.get()
    }

    static func load(a: [String], b: [String], range: Range<Int>, threads: Int) throws -> PairBatch {
        let paths = Array(a[range]) + Array(b[range])
        final class Slots: @unchecked Sendable {
            var images: [RGBImage?]
            var errors: [Error?]
            init(_ n: Int) { images = Array(repeating: nil, count: n); errors = Array(repeating: nil, count: n) }
        }
        let slots = Slots(paths.count)
        let lock = NSLock()
        let workers = max(1, min(paths.count, threads > 0 ? threads : ProcessInfo.processInfo.activeProcessorCount))
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            var i = w
            while i < paths.count {
                let r = Result { try ImageDecoder.decode(path: paths[i]) }
                lock.lock()
                switch r {
                case .success(let image): slots.images[i] = image
                case .failure(let e): slots.errors[i] = e
                }
                lock.unlock()
                i += workers
            }
        }
        for (i, e) in slots.errors.enumerated() {
            guard let e else { continue }
            let text = "\(e)".replacingOccurrences(of: "\n", with: " ")
            throw PipelineError(text.hasPrefix(paths[i]) ? text : "\(paths[i]): \(text)")
        }
        let n = range.count
        let images = slots.images.map { $0! }
        let left = Array(images[0..<n]), right = Array(images[n...])
        for k in 0..<n where left[k].width != right[k].width || left[k].height != right[k].height {
            throw PipelineError("\(a[range.lowerBound + k]) is \(left[k].width)x\(left[k].height) but \(b[range.lowerBound + k]) is \(right[k].width)x\(right[k].height): a pair must have one size")
        }
        return PairBatch(range: range, a: left, b: right)
    }
}
