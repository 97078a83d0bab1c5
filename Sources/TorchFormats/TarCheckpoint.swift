// The legacy tar format of torch 0.1.1 - 0.1.9 (spec §5.2): entries sys_info, pickle, tensors, storages.

import PickleVM

extension Checkpoint {
    /// Minimal ustar reader: 512-byte headers, octal sizes; PAX `x` headers may rename or resize the next entry.
    func tarEntries() throws -> [String: (offset: Int, count: Int)] {
        let b = file.bytes
        var entries: [String: (Int, Int)] = [:]
        var pos = 0
        var paxName: String?
        var paxSize: Int?
        while pos + 512 <= b.count {
            let header = UnsafeRawBufferPointer(rebasing: b[pos..<(pos + 512)])
            if header.allSatisfy({ $0 == 0 }) { break }
            func field(_ o: Int, _ n: Int) -> [UInt8] { Array(header[o..<(o + n)].prefix { $0 != 0 }) }
            let sizeText = String(decoding: field(124, 12), as: UTF8.self).trimmingCharacters(in: .init(charactersIn: " "))
            guard let declared = Int(sizeText.isEmpty ? "0" : sizeText, radix: 8), declared >= 0 else {
                throw CheckpointError.tar("entry header at \(pos) has size '\(sizeText)'")
            }
            let size = paxSize ?? declared
            let dataStart = pos + 512
            guard size <= b.count - dataStart else { throw CheckpointError.tar("entry at \(pos) claims \(size) bytes beyond the end of the file") }
            let type = header[156]
            var name = String(decoding: field(0, 100), as: UTF8.self)
            let prefix = String(decoding: field(345, 155), as: UTF8.self)
            if !prefix.isEmpty { name = prefix + "/" + name }
            if type == UInt8(ascii: "x") || type == UInt8(ascii: "g") {
                guard size <= 1 << 20 else { throw CheckpointError.tar("PAX header of \(size) bytes") }
                if type == UInt8(ascii: "x") {
                    (paxName, paxSize) = try parsePAX(UnsafeRawBufferPointer(rebasing: b[dataStart..<(dataStart + size)]))
                }
            } else {
                if type == 0 || type == UInt8(ascii: "0") {
                    let finalName = paxName ?? name
                    guard entries[finalName] == nil else { throw CheckpointError.tar("duplicate entry \(finalName)") }
                    entries[finalName] = (dataStart, size)
                }
                paxName = nil; paxSize = nil
            }
            let padded = (size + 511) / 512 * 512
            guard padded <= b.count - dataStart else { break }
            pos = dataStart + padded
        }
        return entries
    }

    private func parsePAX(_ data: UnsafeRawBufferPointer) throws -> (String?, Int?) {
        var name: String?, size: Int?
        var i = 0
        let bytes = Array(data)
        while i < bytes.count {
            guard let space = bytes[i...].firstIndex(of: 0x20), let len = Int(String(decoding: bytes[i..<space], as: UTF8.self)),
                  len > 0, len <= bytes.count - i, space + 1 <= i + len - 1 else {
                throw CheckpointError.tar("malformed PAX record")
            }
            let record = String(decoding: bytes[(space + 1)..<(i + len - 1)], as: UTF8.self)
            if let eq = record.firstIndex(of: "=") {
                let k = record[..<eq], v = String(record[record.index(after: eq)...])
                if k == "path" { name = v }
                if k == "size" { size = Int(v) }
            }
            i += len
        }
        if let s = size, s < 0 { throw CheckpointError.tar("negative PAX size") }
        return (name, size)
    }

    func readTar(nestingDepth: Int) throws {
        // torch.load(weights_only=True) refuses this format outright; strict mode does the same, before the
        // storages pickle names its storage classes outside any persistent id.
        if options.strict { throw CheckpointError.unsupported("strict mode refuses the legacy tar format (torch 0.1.x), as torch.load(weights_only=True) does") }
        let entries = try tarEntries()
        for needed in ["sys_info", "pickle", "tensors", "storages"] where entries[needed] == nil {
            throw CheckpointError.tar("entry '\(needed)' is missing")
        }
        let b = file.bytes
        func slice(_ name: String) -> UnsafeRawBufferPointer {
            let e = entries[name]!
            return UnsafeRawBufferPointer(rebasing: b[e.offset..<(e.offset + e.count)])
        }
        let provider = RangeStorageProvider(file: file, what: "tar storages entry")
        retain(provider)
        var objects: [Int64: PyValue] = [:]
        var storagesByKey: [Int64: StorageRef] = [:]

        // storages: count, then per storage (key, location, type) + int64 numel + data; then optional views.
        let st = slice("storages")
        let base = entries["storages"]!.offset
        var r = try unpickle(st, hooks: nil)
        guard let count = r.value.intValue, count >= 0, count <= Int64(st.count) else { throw CheckpointError.tar("storage count \(describe(r.value))") }
        var pos = r.endOffset
        for _ in 0..<count {
            r = try unpickle(st, offset: pos, hooks: nil)
            guard let fields = r.value.sequenceItems else { throw CheckpointError.tar("storage record is not a tuple") }
            // Accept both writer orders by type: (key, location, type) and the earliest (key, type).
            guard let key = fields.first?.intValue,
                  let cls = fields.lazy.compactMap({ v -> PyGlobal? in if case .global(let g) = v { return g }; return nil }).first,
                  let dtype = DType(storageGlobal: cls) else { throw CheckpointError.tar("storage record \(fields.map(\.typeName)) is not (key, location, type)") }
            let location = fields.compactMap { $0.stringValue }.first ?? "cpu"
            var c = ByteCursor(st, r.endOffset, containerError: CheckpointError.tar)
            guard c.remaining >= 8 else { throw CheckpointError.tar("storage \(key) data is truncated") }
            let numel = Int64(bitPattern: try c.uint(8))
            guard numel >= 0, numel <= Int64(st.count) else { throw CheckpointError.tar("storage \(key) claims \(numel) elements") }
            let s = try StorageRef(key: String(key), dtype: dtype, numel: Int(numel), location: location, bigEndian: false, provider: provider)
            guard s.nbytes <= c.remaining else { throw CheckpointError.tar("storage \(key) data is truncated") }
            provider.ranges[String(key)] = (base + c.offset, s.nbytes)
            storagesByKey[key] = s
            objects[key] = .native(s)
            pos = c.offset + s.nbytes
        }
        if pos < st.count, let views = try? unpickle(st, offset: pos, hooks: nil), let list = views.value.sequenceItems {
            for v in list {
                guard let f = v.sequenceItems, f.count == 4, let target = f[0].intValue, let rootKey = f[1].intValue,
                      let off = f[2].intValue, let n = f[3].intValue, let root = storagesByKey[rootKey],
                      off >= 0, n >= 0, off + n <= Int64(root.numel) else { throw CheckpointError.tar("malformed storage view") }
                let view = try StorageRef(key: root.key, dtype: root.dtype, numel: Int(n), location: root.location,
                                          bigEndian: false, provider: provider, baseOffset: Int(off) * root.dtype.itemSize)
                storagesByKey[target] = view
                objects[target] = .native(view)
            }
        }

        // tensors: count, then per tensor (key, storage_id, type) + ndim, pad, sizes, strides, offset.
        let te = slice("tensors")
        r = try unpickle(te, hooks: nil)
        guard let tcount = r.value.intValue, tcount >= 0, tcount <= Int64(te.count) else { throw CheckpointError.tar("tensor count \(describe(r.value))") }
        pos = r.endOffset
        for _ in 0..<tcount {
            r = try unpickle(te, offset: pos, hooks: nil)
            guard let f = r.value.sequenceItems, f.count == 3, let key = f[0].intValue else { throw CheckpointError.tar("tensor record is not (key, storage, type)") }
            let ints = f.compactMap(\.intValue)
            guard ints.count == 2, let storage = storagesByKey[ints[1]] else { throw CheckpointError.tar("tensor \(key) names no stored storage") }
            var c = ByteCursor(te, r.endOffset, containerError: CheckpointError.tar)
            let ndim = Int(Int32(truncatingIfNeeded: try c.uint(4)))
            guard ndim >= 0, ndim <= TensorRef.maxDims else { throw CheckpointError.tar("tensor \(key) has \(ndim) dimensions") }
            c.skip(4)
            var size: [Int] = [], stride: [Int] = []
            for _ in 0..<ndim { size.append(Int(Int64(bitPattern: try c.uint(8)))) }
            for _ in 0..<ndim { stride.append(Int(Int64(bitPattern: try c.uint(8)))) }
            let off = Int(Int64(bitPattern: try c.uint(8)))
            objects[key] = .native(try TensorRef(storage: storage, dtype: storage.dtype, shape: size, strides: stride, storageOffset: off))
            pos = c.offset
        }

        let hooks = TorchHooks(style: .tar(objects), provider: provider, bigEndian: false, nestingDepth: nestingDepth, options: options.pickle)
        let main = try unpickle(slice("pickle"), hooks: hooks)
        root = main.value
        protocolVersion = main.protocolVersion
    }
}

import Foundation
