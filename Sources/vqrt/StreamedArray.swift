// Optional float32 outputs (`--raw`, `--latents`) streamed batch by batch into an .npy, so that a long run holds one
// batch of them, not all of them, and a failed run leaves no partial file.
import Foundation
import NPY

final class StreamedArray {
    private let path: String?
    private var writer: NPYStreamWriter?

    /// Nothing is written when `path` is nil.
    init(_ path: String?) { self.path = path }

    /// Appends a batch: `values` in C order, `shape` = [batch, row dims...]; every batch must have the same rows.
    func append(_ values: [Float], shape: [Int]) throws {
        guard let path else { return }
        let rowShape = Array(shape.dropFirst())
        if writer == nil { writer = try NPYStreamWriter(path: path, rowShape: rowShape) }
        guard let writer, writer.rowShape == rowShape else {
            throw CLIError("\((path as NSString).lastPathComponent): batches of different shapes (\(rowShape) after \(writer?.rowShape ?? [])) cannot share one array; use images of one size")
        }
        try values.withUnsafeBufferPointer { try writer.append($0) }
    }

    /// Puts the file in place (nothing if no batch came).
    func finish() throws { try writer?.finish() }
}
