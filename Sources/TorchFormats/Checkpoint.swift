// Opening a checkpoint: format detection from the leading bytes (spec §1), then the container reader.

import PickleVM

public struct LoadOptions: Sendable {
    public var pickle = UnpicklerOptions()
    /// Check zip CRC-32s (torch never does; a CRC of 0 means "not computed": spec §2.2).
    public var verifyCRC = false
    /// `weights_only`-like strictness (non-executing either way).
    public var strict: Bool {
        get { pickle.strict }
        set { pickle.strict = newValue }
    }
    public init(pickle: UnpicklerOptions = .init()) { self.pickle = pickle }
}

public final class Checkpoint {
    public enum Format: String, Sendable {
        case zip, legacy, tar, safetensors
        /// A plain `pickle.dump` file (`.pkl`); tensors inside are nested legacy blobs (spec §5.4).
        case pickle
    }

    public let path: String
    public let format: Format
    public internal(set) var root: PyValue = .none
    public internal(set) var protocolVersion: Int?
    public internal(set) var warnings: [String] = []
    /// Globals the pickle named (classes, functions), in first-seen order.
    public internal(set) var globals: [PyGlobal] = []

    /// The globals `torch.load(weights_only=True)` would refuse: what `torch.load(weights_only=False)` would import
    /// and call when loading this file (vqrt never does). Sorted by name.
    public var globalsOutsideWeightsOnly: [PyGlobal] {
        globals.filter { !$0.isWeightsOnlyBuiltin && !TorchHooks.weightsOnlyAllowed($0) }.sorted { $0.description < $1.description }
    }
    /// The zip archive prefix (`archive`, or the file's base name).
    public internal(set) var archivePrefix: String?
    public let fileSize: Int
    let file: MappedFile
    let options: LoadOptions
    private var keepAlive: [AnyObject] = []

    public static let legacyMagic: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]

    /// Opens and fully parses `path` (tensor data stays in the mapping until read).
    public static func open(path: String, options: LoadOptions = .init()) throws -> Checkpoint {
        try Checkpoint(file: MappedFile(path: path), options: options, nestingDepth: 0)
    }

    /// Drops the checkpoint's file pages from the resident set (see `MappedFile.releaseResidentPages`); the
    /// checkpoint stays fully readable.
    public func releaseResidentPages() { file.releaseResidentPages() }

    init(file: MappedFile, options: LoadOptions, nestingDepth: Int) throws {
        self.file = file
        self.path = file.path
        self.options = options
        self.fileSize = file.bytes.count
        let b = file.bytes
        if b.count >= 4, b[0] == 0x50, b[1] == 0x4B, b[2] == 3, b[3] == 4 {
            format = .zip
        } else if b.count >= 512, Array(b[257..<262]) == Array("ustar".utf8) {
            format = .tar
        } else if Checkpoint.looksLegacy(b) {
            format = .legacy
        } else if Checkpoint.looksSafetensors(b) {
            format = .safetensors
        } else if b.count >= 2, b[0] == 0x80, (2...5).contains(b[1]), Checkpoint.isPlainPickleName(file.path) {
            format = .pickle
        } else if b.count >= 8, Array(b[0..<8]) == Array("PYTORCH1".utf8) {
            throw CheckpointError.unknownFormat("the 2018 preview container (PYTORCH1) is not supported")
        } else {
            throw CheckpointError.unknownFormat(b.isEmpty ? "the file is empty" : "unrecognised leading bytes (expected a zip, a legacy pickle, a tar or safetensors)")
        }
        do {
            switch format {
            case .zip: try readZip()
            case .legacy: try readLegacy(nestingDepth: nestingDepth)
            case .tar: try readTar(nestingDepth: nestingDepth)
            case .safetensors: try readSafetensors()
            case .pickle: try readPlainPickle(nestingDepth: nestingDepth)
            }
        } catch let e as PickleError {
            throw CheckpointError.pickle(e.description)
        }
    }

    /// Legacy files start with a pickle of the magic number: `80 02 8A 0A <magic>`, optionally behind a FRAME
    /// (protocol >= 4), or the protocol-1 text form `L1195...L\n.` (spec §1).
    static func looksLegacy(_ b: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        if b.count >= 2, b[0] == 0x80 { i = 2 }
        if i == 2, b.count >= 11, b[2] == 0x95 { i = 11 }
        if b.count >= i + 12, b[i] == 0x8A, b[i + 1] == 0x0A, Array(b[(i + 2)..<(i + 12)]) == legacyMagic { return true }
        let text = Array("L119547037146038801333356".utf8)
        return b.count >= text.count && Array(b[0..<text.count]) == text
    }

    /// Plain pickles are only accepted under a pickle file name: a `.pt` that starts like a pickle but is not a
    /// legacy checkpoint is a corrupt (or crafted, spec H33) legacy file.
    static func isPlainPickleName(_ path: String) -> Bool {
        let lower = path.lowercased()
        return lower.hasSuffix(".pkl") || lower.hasSuffix(".pickle") || path.hasPrefix("<")
    }

    static func looksSafetensors(_ b: UnsafeRawBufferPointer) -> Bool {
        guard b.count >= 10 else { return false }
        var n: UInt64 = 0
        for i in (0..<8).reversed() { n = n << 8 | UInt64(b[i]) }
        return n >= 2 && n <= UInt64(b.count - 8) && b[8] == UInt8(ascii: "{")
    }

    func unpickle(_ data: UnsafeRawBufferPointer, offset: Int = 0, hooks: PickleHooks?) throws -> PickleResult {
        let r = try Unpickler(data, offset: offset, hooks: hooks, options: options.pickle).load()
        warnings += r.warnings
        for g in r.globals where !globals.contains(g) { globals.append(g) }
        return r
    }

    func retain(_ o: AnyObject) { keepAlive.append(o) }

    /// A plain pickle: no storages of its own (persistent ids are refused); torch tensors in it arrive as
    /// `torch.storage._load_from_bytes` blobs, each a nested legacy file.
    func readPlainPickle(nestingDepth: Int) throws {
        let provider = RangeStorageProvider(file: file, what: "plain pickle")
        let hooks = TorchHooks(style: .none, provider: provider, bigEndian: false, nestingDepth: nestingDepth, options: options.pickle)
        let r = try unpickle(file.bytes, hooks: hooks)
        root = r.value
        protocolVersion = r.protocolVersion
        if r.endOffset < file.bytes.count { warnings.append("\(file.bytes.count - r.endOffset) bytes after the pickle were ignored") }
    }
}

extension Checkpoint {
    /// Parses a checkpoint held in memory (fuzzing, nested blobs, tests).
    public static func load(bytes: [UInt8], name: String, options: LoadOptions = .init()) throws -> Checkpoint {
        try Checkpoint(file: MappedFile(bytes: bytes, name: name), options: options, nestingDepth: 0)
    }
}
