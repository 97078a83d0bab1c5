// safetensors: an 8-byte little-endian header length, a JSON header, then raw little-endian tensor data.

import Foundation
import PickleVM

extension Checkpoint {
    func readSafetensors() throws {
        let b = file.bytes
        var c = ByteCursor(b, 0, containerError: CheckpointError.safetensors)
        let n = try c.uint(8)
        guard n <= 100_000_000, n <= UInt64(b.count - 8) else { throw CheckpointError.safetensors("header length \(n) exceeds the file") }
        let headerBytes = Data(b[8..<(8 + Int(n))])
        guard let header = try? JSONSerialization.jsonObject(with: headerBytes) as? [String: Any] else {
            throw CheckpointError.safetensors("header is not a JSON object")
        }
        let dataStart = 8 + Int(n)
        let dataCount = b.count - dataStart
        let provider = RangeStorageProvider(file: file, what: "safetensors data")
        retain(provider)
        let dict = PyDict()
        // Tensors appear in data-offset order, like the file; names sorted for ties.
        var items: [(String, [String: Any], Int)] = []
        for (name, value) in header where name != "__metadata__" {
            guard let info = value as? [String: Any], let offsets = info["data_offsets"] as? [Int], offsets.count == 2 else {
                throw CheckpointError.safetensors("tensor \(name) has no data_offsets")
            }
            items.append((name, info, offsets[0]))
        }
        items.sort { ($0.2, $0.0) < ($1.2, $1.0) }
        for (i, (name, info, _)) in items.enumerated() {
            guard let code = info["dtype"] as? String, let dtype = DType(safetensors: code) else {
                throw CheckpointError.safetensors("tensor \(name) has unsupported dtype \(info["dtype"] ?? "none")")
            }
            guard let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int],
                  offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= dataCount else {
                throw CheckpointError.safetensors("tensor \(name) has a bad shape or data range")
            }
            let count = offsets[1] - offsets[0]
            guard count % dtype.itemSize == 0 else { throw CheckpointError.safetensors("tensor \(name) data is not whole elements") }
            let key = String(i)
            provider.ranges[key] = (dataStart + offsets[0], count)
            let storage = try StorageRef(key: key, dtype: dtype, numel: count / dtype.itemSize, location: "cpu", bigEndian: false, provider: provider)
            var strides = [Int](repeating: 1, count: shape.count)
            for d in stride(from: shape.count - 2, through: 0, by: -1) { strides[d] = strides[d + 1] * max(shape[d + 1], 1) }
            let t = try TensorRef(storage: storage, dtype: dtype, shape: shape, strides: strides, storageOffset: 0)
            guard t.numel * dtype.itemSize == count else { throw CheckpointError.safetensors("tensor \(name) shape \(shape) does not match its \(count) bytes") }
            dict.set(.str(name), .native(t))
        }
        if let meta = header["__metadata__"] as? [String: String] {
            let m = PyDict()
            for (k, v) in meta.sorted(by: { $0.key < $1.key }) { m.set(.str(k), .str(v)) }
            dict.attributes["__metadata__"] = .dict(m)
        }
        root = .dict(dict)
    }
}
