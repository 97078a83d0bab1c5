// Parallel decode + preset of many files into one float32 [N, 3, H, W] batch.

import Dispatch
import Foundation

/// A decoded, preprocessed batch. Failed files are skipped and listed in `failures`.
public struct ImageBatch: Sendable {
    /// float32 `[count, 3, height, width]`, in input order of the files that loaded.
    public var tensor: [Float]
    public var count: Int
    public var height: Int
    public var width: Int
    /// Paths of the images in `tensor`, in order, and their positions in the input list.
    public var files: [String]
    public var indices: [Int]
    /// `preset.originals(image)` for each loaded image, when requested.
    public var originals: [RGBImage]?
    /// Files that could not be used, with the error (in input order).
    public var failures: [(index: Int, path: String, error: Error)]
}

public enum BatchLoader {
    /// Decodes and preprocesses `paths` on `threads` threads (0: all cores).
    /// With a preset whose output size follows the input (geometry `.none`, no tensor resize), every image must
    /// have the size of the first image that decodes; others fail with `.sizeMismatch`.
    public static func load(paths: [String], preset: Preset, threads: Int = 0,
                            maxPixels: Int = ImageDecoder.defaultMaxPixels, keepOriginals: Bool = false) -> ImageBatch {
        let n = paths.count
        final class Slots: @unchecked Sendable {
            var tensors: [[Float]?]
            var sizes: [(Int, Int)]
            var originals: [RGBImage?]
            var errors: [Error?]
            init(_ n: Int) {
                tensors = Array(repeating: nil, count: n); sizes = Array(repeating: (0, 0), count: n)
                originals = Array(repeating: nil, count: n); errors = Array(repeating: nil, count: n)
            }
        }
        let slots = Slots(n)
        let workers = max(1, min(n, threads > 0 ? threads : ProcessInfo.processInfo.activeProcessorCount))
        let lock = NSLock()
        // Each worker takes every `workers`-th file; results go to per-index slots (under a lock: cheap relative to
        // decoding, and keeps the arrays free of data races).
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            var i = w
            while i < n {
                let path = paths[i]
                do {
                    let img = try ImageDecoder.decode(path: path, maxPixels: maxPixels)
                    let r = try preset.run(img)
                    let orig = keepOriginals ? try preset.originals(prepared: r.prepared) : nil
                    let (x, size) = (r.tensor, (r.height, r.width))
                    lock.lock()
                    slots.tensors[i] = x; slots.sizes[i] = size; slots.originals[i] = orig
                    lock.unlock()
                } catch let e as ImagingError {
                    lock.lock(); slots.errors[i] = ImagingError(e.kind, file: e.file == "<memory>" ? path : e.file, e.message); lock.unlock()
                } catch {
                    lock.lock(); slots.errors[i] = error; lock.unlock()
                }
                i += workers
            }
        }
        var batch = ImageBatch(tensor: [], count: 0, height: 0, width: 0, files: [], indices: [],
                               originals: keepOriginals ? [] : nil, failures: [])
        var size: (Int, Int)? = nil
        for i in 0..<n {
            if let e = slots.errors[i] { batch.failures.append((i, paths[i], e)); continue }
            guard let x = slots.tensors[i] else { continue }
            let s = slots.sizes[i]
            if let size, size != s {
                batch.failures.append((i, paths[i], ImagingError(.sizeMismatch, file: paths[i],
                    "image is \(s.1)x\(s.0) but the batch is \(size.1)x\(size.0) (this preset does not resize)")))
                continue
            }
            size = s
            batch.tensor.append(contentsOf: x)
            batch.files.append(paths[i]); batch.indices.append(i)
            if keepOriginals, let o = slots.originals[i] { batch.originals?.append(o) }
        }
        batch.count = batch.files.count
        batch.height = size?.0 ?? 0
        batch.width = size?.1 ?? 0
        return batch
    }
}
