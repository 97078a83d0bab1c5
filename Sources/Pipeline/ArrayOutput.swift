// Array outputs written as a run goes: float32 rows streamed batch by batch into an .npy (`--raw`, `--latents`)
// so a long run holds one batch of them, not all; int64 code rows gathered for the one `--codes` file. Both appear
// only when complete (written beside, then renamed).

import Foundation
import NPY

public final class StreamedArray {
    private let path: String?
    private var writer: NPYStreamWriter?

    /// Nothing is written when `path` is nil.
    public init(_ path: String?) { self.path = path }

    /// Appends a batch: `values` in C order, `shape` = [batch, row dims...]; every batch must have the same rows.
    public func append(_ values: [Float], shape: [Int]) throws {
        guard let path else { return }
        let rowShape = Array(shape.dropFirst())
        if writer == nil { writer = try naming(path) { try NPYStreamWriter(path: path, rowShape: rowShape) } }
        guard let writer, writer.rowShape == rowShape else {
            throw PipelineError(file: path, "batches of different shapes (\(rowShape) after \(writer?.rowShape ?? [])) cannot share one array; use images of one size")
        }
        try naming(path) { try values.withUnsafeBufferPointer { try writer.append($0) } }
    }

    /// Puts the file in place (nothing if no batch came).
    public func finish() throws {
        guard let path else { return }
        try naming(path) { try writer?.finish() }
    }
}
