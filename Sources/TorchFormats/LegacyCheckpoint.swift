// The legacy "stacked pickles" format of torch 0.1.10 - 1.5 (spec §5.1): magic, protocol, sys_info, the object
// graph, the storage key list, then each storage's raw bytes (little-endian) behind an int64 element count.

import PickleVM

/// Byte ranges of storages, bound once the raw section has been walked.
final class RangeStorageProvider: StorageProvider {
    let file: MappedFile
    var ranges: [String: (offset: Int, count: Int)] = [:]
    let what: String
    init(file: MappedFile, what: String) { self.file = file; self.what = what }

    func bytes(forKey key: String, nbytes: Int) throws -> UnsafeRawBufferPointer {
        guard let r = ranges[key] else { throw CheckpointError.legacy("storage \(key) has no data in the \(what)") }
        guard r.count >= nbytes else { throw CheckpointError.legacy("storage \(key) holds \(r.count) bytes, \(nbytes) needed") }
        return UnsafeRawBufferPointer(rebasing: file.bytes[r.offset..<(r.offset + r.count)])
    }
}

extension Checkpoint {
    func readLegacy(nestingDepth: Int) throws {
        let b = file.bytes
        // The magic pickle must be exactly the magic integer: anything else (a REDUCE producing it, say) is refused
        // (spec H33). It is read with no hooks, so nothing can be referenced or built.
        let magic = try unpickle(b, hooks: nil)
        guard case .bigInt(let m) = magic.value, m.littleEndianBytes == Checkpoint.legacyMagic else {
            throw CheckpointError.legacy("the leading pickle is not the torch magic number")
        }
        let proto = try unpickle(b, offset: magic.endOffset, hooks: nil)
        guard proto.value.intValue == 1001 else { throw CheckpointError.legacy("protocol version \(describe(proto.value)), expected 1001") }
        let sysInfo = try unpickle(b, offset: proto.endOffset, hooks: nil)
        guard case .dict = sysInfo.value else { throw CheckpointError.legacy("sys_info is not a dict") }

        let provider = RangeStorageProvider(file: file, what: "legacy data section")
        retain(provider)
        // Legacy data is always little-endian, whatever sys_info says (spec §5.1).
        let hooks = TorchHooks(style: .legacy, provider: provider, bigEndian: false, nestingDepth: nestingDepth, options: options.pickle)
        let main = try unpickle(b, offset: sysInfo.endOffset, hooks: hooks)
        root = main.value
        protocolVersion = main.protocolVersion

        let keysResult = try unpickle(b, offset: main.endOffset, hooks: nil)
        guard let keyValues = keysResult.value.sequenceItems else { throw CheckpointError.legacy("storage key list is not a list") }
        var offset = keysResult.endOffset
        var seen = Set<String>()
        for kv in keyValues {
            guard let key = kv.stringValue else { throw CheckpointError.legacy("storage key \(describe(kv)) is not a string") }
            guard seen.insert(key).inserted else { throw CheckpointError.legacy("storage key \(key) is listed twice") }
            guard let storage = hooks.storages[key] else { throw CheckpointError.legacy("storage key \(key) is listed but never referenced") }
            guard offset <= b.count - 8 else { throw CheckpointError.legacy("data for storage \(key) is truncated") }
            var c = ByteCursor(b, offset, containerError: CheckpointError.legacy)
            let numel = Int64(bitPattern: try c.uint(8))
            guard numel == Int64(storage.numel) else {
                throw CheckpointError.legacy("storage \(key) data header says \(numel) elements, its tensors declare \(storage.numel)")
            }
            guard storage.nbytes <= b.count - c.offset else { throw CheckpointError.legacy("data for storage \(key) is truncated") }
            provider.ranges[key] = (c.offset, storage.nbytes)
            offset = c.offset + storage.nbytes
        }
        for key in hooks.storageOrder where provider.ranges[key] == nil {
            // torch would hand back uninitialised memory here; we refuse (spec H34).
            throw CheckpointError.legacy("storage \(key) is referenced but has no data")
        }
        if offset < b.count { warnings.append("\(b.count - offset) bytes after the legacy data section were ignored") }
    }
}
