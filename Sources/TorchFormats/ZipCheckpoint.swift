// The zip container of torch.save >= 1.6 (spec §2).

import Foundation
import PickleVM

final class ZipStorageProvider: StorageProvider {
    let archive: ZipArchive
    let prefix: String
    init(archive: ZipArchive, prefix: String) { self.archive = archive; self.prefix = prefix }

    func record(_ key: String) throws -> ZipEntry {
        guard let e = archive.entry("\(prefix)/data/\(key)") else { throw CheckpointError.zip("storage record \(prefix)/data/\(key) is missing") }
        return e
    }

    func bytes(forKey key: String, nbytes: Int) throws -> UnsafeRawBufferPointer {
        let d = try archive.data(try record(key))
        guard d.count >= nbytes else { throw CheckpointError.zip("storage record \(key) holds \(d.count) bytes, \(nbytes) needed") }
        return d
    }
}

extension Checkpoint {
    func readZip() throws {
        let archive = try ZipArchive(file: file)
        retain(archive)
        guard let first = archive.entries.first else { throw CheckpointError.zip("the archive has no entries") }
        guard let slash = first.name.firstIndex(of: "/") else {
            throw CheckpointError.zip("first entry '\(first.name)' is not inside an archive folder (torch requires one)")
        }
        let prefix = String(first.name[..<slash])
        for e in archive.entries where !e.name.hasPrefix(prefix + "/") {
            throw CheckpointError.zip("entry '\(e.name)' is outside the archive folder '\(prefix)/' (mixed prefixes)")
        }
        archivePrefix = prefix
        if archive.entry("\(prefix)/constants.pkl") != nil {
            throw CheckpointError.unsupported("this is a TorchScript archive (torch.jit.save); save the model's state_dict with torch.save instead")
        }
        guard let pkl = archive.entry("\(prefix)/data.pkl") else { throw CheckpointError.zip("\(prefix)/data.pkl is missing") }
        var bigEndian = false
        if let bo = archive.entry("\(prefix)/byteorder") {
            let text = String(decoding: try archive.data(bo), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            switch text {
            case "little": break
            case "big": bigEndian = true
            default: throw CheckpointError.zip("byteorder record says '\(text.prefix(20))'")
            }
        }
        if options.verifyCRC {
            for e in archive.entries where e.crc32 != 0 {
                guard try archive.computeCRC32(e) == e.crc32 else { throw CheckpointError.zip("CRC-32 mismatch in \(e.name)") }
            }
        }
        let provider = ZipStorageProvider(archive: archive, prefix: prefix)
        let hooks = TorchHooks(style: .zip, provider: provider, bigEndian: bigEndian, options: options.pickle)
        // torch requires each record to be exactly numel x itemsize (spec §2.4, H15-H17).
        hooks.onNewStorage = { key, _, nbytes in
            let e = try provider.record(key)
            guard e.uncompressedSize == nbytes else {
                throw CheckpointError.zip("storage record \(key) has \(e.uncompressedSize) bytes but its tensor metadata declares \(nbytes)")
            }
        }
        let data = try archive.data(pkl)
        let result = try unpickle(data, hooks: hooks)
        if result.endOffset < data.count {
            if options.strict { throw CheckpointError.zip("\(data.count - result.endOffset) bytes follow STOP in data.pkl") }
            warnings.append("\(data.count - result.endOffset) trailing bytes after the pickle in data.pkl were ignored")
        }
        root = result.value
        protocolVersion = result.protocolVersion
    }
}
