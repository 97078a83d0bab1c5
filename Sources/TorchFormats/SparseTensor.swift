// Sparse COO tensors (`_rebuild_sparse_tensor`, spec §4.3): indices are validated, then the tensor is densified
// (within the materialisation limit). Other sparse layouts are reported as unsupported rather than guessed.

import PickleVM

/// Bytes owned in memory (densified sparse tensors).
final class MemoryStorageProvider: StorageProvider {
    let data: [UInt8]
    init(_ data: [UInt8]) { self.data = data }
    func bytes(forKey key: String, nbytes: Int) throws -> UnsafeRawBufferPointer {
        guard data.count >= nbytes else { throw CheckpointError.invalid("in-memory storage too short") }
        return data.withUnsafeBytes { UnsafeRawBufferPointer(start: $0.baseAddress, count: data.count) }
    }
}

enum SparseCOO {
    static func densify(layout: PyValue, data: PyValue) throws -> TensorRef {
        guard layout.stringValue == "torch.sparse_coo" || layout.stringValue == "sparse_coo" else {
            throw CheckpointError.unsupported("sparse layout \(describe(layout)) (only sparse_coo is densified)")
        }
        guard let parts = data.sequenceItems, parts.count >= 3,
              case .native(let ni) = parts[0], let indices = ni as? TensorRef,
              case .native(let nv) = parts[1], let values = nv as? TensorRef,
              let sizeItems = parts[2].sequenceItems else {
            throw CheckpointError.invalid("sparse tensor data is not (indices, values, size)")
        }
        let size = try sizeItems.map { v -> Int in
            guard let i = v.intValue, i >= 0, i < Int64(Int32.max) else { throw CheckpointError.invalid("sparse size entry \(describe(v))") }
            return Int(i)
        }
        guard indices.shape.count == 2, indices.shape[0] == size.count || size.isEmpty,
              values.shape.first == indices.shape[1], values.shape.count == 1 else {
            throw CheckpointError.invalid("sparse indices \(indices.shape) / values \(values.shape) do not fit size \(size)")
        }
        var numel = 1
        for s in size {
            let (n, o) = numel.multipliedReportingOverflow(by: s)
            guard !o else { throw CheckpointError.invalid("sparse size overflows") }
            numel = n
        }
        let item = values.dtype.itemSize
        guard numel * item <= TensorRef.maxExpandedBytes else { throw CheckpointError.unsupported("sparse tensor of \(numel) elements is too large to densify") }
        let idx = try indices.int64s()
        let valueBytes = try values.logicalBytes()
        let nnz = indices.shape[1]
        var dense = [UInt8](repeating: 0, count: numel * item)
        for k in 0..<nnz {
            var flat = 0
            for d in 0..<size.count {
                let i = idx[d * nnz + k]
                // Indices are validated like torch's weights-only loader does, before anything is written.
                guard i >= 0, i < Int64(size[d]) else { throw CheckpointError.invalid("sparse index \(i) out of range for size \(size)") }
                flat = flat * size[d] + Int(i)
            }
            // Duplicate indices add up, as coalescing would; done here on the value type.
            if values.dtype == .float32 {
                let old = dense.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: flat * 4, as: Float.self) }
                let add = valueBytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: k * 4, as: Float.self) }
                dense.withUnsafeMutableBytes { $0.storeBytes(of: old + add, toByteOffset: flat * 4, as: Float.self) }
            } else {
                for b in 0..<item { dense[flat * item + b] = valueBytes[k * item + b] }
            }
        }
        let provider = MemoryStorageProvider(dense)
        let storage = try StorageRef(key: "sparse", dtype: values.dtype, numel: numel, location: "cpu", bigEndian: false, provider: provider)
        var strides = [Int](repeating: 1, count: size.count)
        for d in stride(from: size.count - 2, through: 0, by: -1) { strides[d] = strides[d + 1] * max(size[d + 1], 1) }
        let t = try TensorRef(storage: storage, dtype: values.dtype, shape: size, strides: strides, storageOffset: 0)
        t.layout = "sparse_coo"
        return t
    }
}
