// The one batch path from image files to model inputs: decode (PIL's convert("RGB")), preset (crop, resize,
// scaling), batched in input order. The next batch is decoded on a background thread while the caller computes
// on the current one.

import Dispatch
import Foundation
import Imaging

/// What a command does with an image that cannot be read.
public enum FailurePolicy: Sendable {
    /// Stop with an error naming the file (outputs are rows aligned with the inputs: a gap would misalign them).
    case stop
    /// Leave it out, report it through the warning sink, and go on (the outputs record which inputs they hold).
    case skip
}

/// One batch: the images of `inputRange` that loaded, in order.
public struct LoadedBatch: @unchecked Sendable {
    /// Positions in the whole input list this batch covers (loaded or not).
    public let inputRange: Range<Int>
    /// The decoded, preprocessed images (`batch.indices` are offsets into `inputRange`).
    public let batch: ImageBatch
    /// Positions (in the whole input list) of the images in `batch`, in order.
    public var positions: [Int] { batch.indices.map { inputRange.lowerBound + $0 } }
    public var count: Int { batch.count }
}

public final class BatchReader {
    public let paths: [String]
    public let preset: Preset
    public let batchSize: Int
    public let policy: FailurePolicy
    private let warn: WarningSink
    private let ahead: ReadAhead<ImageBatch>

    /// - Parameters:
    ///   - range: the part of `paths` to read (a shard), all of it by default.
    ///   - keepOriginals: also keep each image after the preset's crop/resize as 8-bit pixels (`preset.originals`).
    ///   - threads: decoding threads for a batch read while nothing else runs (the first one); batches read ahead
    ///     of the model use one thread, leaving the cores to the model.
    public init(paths: [String], range: Range<Int>? = nil, preset: Preset, batchSize: Int, policy: FailurePolicy,
                keepOriginals: Bool = false, threads: Int, warn: @escaping WarningSink) {
        self.paths = paths
        self.preset = preset
        self.batchSize = max(1, batchSize)
        self.policy = policy
        self.warn = warn
        ahead = ReadAhead(range: range ?? 0..<paths.count, batchSize: batchSize, threads: threads) { range, threads in
            BatchLoader.load(paths: Array(paths[range]), preset: preset, threads: threads, keepOriginals: keepOriginals)
        }
    }

    /// The next batch (possibly with no image, when every one of its files failed under `.skip`), or nil at the end.
    public func next() throws -> LoadedBatch? {
        guard let (range, batch) = ahead.next() else { return nil }
        for f in batch.failures {
            let text = "\(f.error)".replacingOccurrences(of: "\n", with: " ")
            let message = text.hasPrefix(f.path) ? text : "\(f.path): \(text)"
            switch policy {
            case .stop: throw PipelineError(message)
            case .skip: warn("\(message) (skipped)")
            }
        }
        return LoadedBatch(inputRange: range, batch: batch)
    }
}

/// Batches of a range loaded one ahead: the next batch is read on a background thread while the caller computes on
/// the current one. The first batch is read at once on `threads` threads, later ones on one thread.
final class ReadAhead<Item> {
    private let load: (Range<Int>, Int) -> Item
    private let batchSize: Int
    private let threads: Int
    private var cursor: Int
    private let end: Int
    private var pending: (range: Range<Int>, group: DispatchGroup, box: Box)?

    private final class Box: @unchecked Sendable { var item: Item? }

    init(range: Range<Int>, batchSize: Int, threads: Int, load: @escaping (Range<Int>, Int) -> Item) {
        self.load = load
        self.batchSize = max(1, batchSize)
        self.threads = threads
        cursor = range.lowerBound
        end = range.upperBound
    }

    /// The next batch's range and contents, or nil at the end.
    func next() -> (Range<Int>, Item)? {
        let range: Range<Int>, item: Item
        if let p = pending {
            p.group.wait()
            range = p.range
            item = p.box.item!
            pending = nil
        } else {
            guard cursor < end else { return nil }
            range = cursor..<min(cursor + batchSize, end)
            cursor = range.upperBound
            item = load(range, threads)
        }
        if cursor < end {
            let next = cursor..<min(cursor + batchSize, end)
            cursor = next.upperBound
            let group = DispatchGroup(), box = Box()
            DispatchQueue.global().async(group: group) { [self] in box.item = self.load(next, 1) }
            pending = (next, group, box)
        }
        return (range, item)
    }

    deinit { pending?.group.wait() }
}
