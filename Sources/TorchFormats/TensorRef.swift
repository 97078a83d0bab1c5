// Storages and strided tensor views over them, validated before any byte is touched (spec §4.4).

import PickleVM

/// Where a container keeps storage bytes. The provider owns the memory (a mapped file or inflated records) and
/// keeps it alive for as long as any storage refers to it.
public protocol StorageProvider: AnyObject {
    /// The bytes of storage `key`, exactly `nbytes` long.
    func bytes(forKey key: String, nbytes: Int) throws -> UnsafeRawBufferPointer
}

/// One torch storage: a typed run of bytes inside the checkpoint, read on demand.
public final class StorageRef: PyNative {
    public let key: String
    /// The storage's own dtype (`uint8` for untyped storages).
    public let dtype: DType
    public let numel: Int
    public let nbytes: Int
    public let location: String
    /// Stored big-endian (zip `byteorder` = big); swapped when read.
    public let bigEndian: Bool
    let provider: StorageProvider
    /// Offset of this storage inside the provider's storage `key` (legacy view_metadata only).
    let baseOffset: Int

    init(key: String, dtype: DType, numel: Int, location: String, bigEndian: Bool, provider: StorageProvider, baseOffset: Int = 0) throws {
        let (n, overflow) = numel.multipliedReportingOverflow(by: dtype.itemSize)
        guard numel >= 0, !overflow else { throw CheckpointError.invalid("storage \(key) declares \(numel) elements") }
        self.key = key; self.dtype = dtype; self.numel = numel; self.nbytes = n; self.location = location
        self.bigEndian = bigEndian; self.provider = provider; self.baseOffset = baseOffset
    }

    public var pythonTypeName: String { "torch.storage.TypedStorage" }

    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        if nbytes == 0 { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        let all = try provider.bytes(forKey: key, nbytes: baseOffset + nbytes)
        return try body(UnsafeRawBufferPointer(rebasing: all[baseOffset..<(baseOffset + nbytes)]))
    }
}

/// Quantisation parameters of a quantized tensor (values stay the raw integers).
public struct Quantization {
    public let scheme: String
    public let parameters: [PyValue]
}

/// A tensor as the checkpoint describes it: a view (shape, strides, offset) of a storage.
public final class TensorRef: PyNative {
    public let storage: StorageRef?
    public let dtype: DType
    public let shape: [Int]
    public let strides: [Int]
    public let storageOffset: Int
    public let numel: Int
    public var requiresGrad = false
    public var isParameter = false
    /// `metadata` flags: the stored values are the un-conjugated / un-negated ones (spec §0 item 4).
    public var conj = false
    public var neg = false
    /// `_rebuild_from_type_v2` subclass and Python attributes, `_rebuild_parameter_with_state` state.
    public var pythonClass: PyGlobal?
    public var pythonState: PyValue?
    public var quantization: Quantization?
    /// `strided` for ordinary tensors; `sparse_coo` for sparse tensors, which are densified on load.
    public var layout = "strided"

    public static let maxDims = 64
    /// Largest materialisation of a view that repeats elements (stride 0); plain views never exceed their storage.
    public static let maxExpandedBytes = 1 << 28

    /// Validates the view against the storage with overflow-checked arithmetic.
    init(storage: StorageRef?, dtype: DType, shape: [Int], strides: [Int], storageOffset: Int) throws {
        guard shape.count == strides.count else { throw CheckpointError.invalid("tensor has \(shape.count) sizes but \(strides.count) strides") }
        guard shape.count <= TensorRef.maxDims else { throw CheckpointError.invalid("tensor has \(shape.count) dimensions (limit \(TensorRef.maxDims))") }
        guard storageOffset >= 0 else { throw CheckpointError.invalid("negative storage offset \(storageOffset)") }
        var numel = 1
        for s in shape {
            guard s >= 0 else { throw CheckpointError.invalid("negative tensor size \(s)") }
            let (n, o) = numel.multipliedReportingOverflow(by: s)
            guard !o else { throw CheckpointError.invalid("tensor size \(shape) overflows") }
            numel = n
        }
        for st in strides where st < 0 { throw CheckpointError.invalid("negative stride \(st) in \(strides)") }
        if numel > 0, let storage {
            var maxIndex = storageOffset
            for (s, st) in zip(shape, strides) {
                let (a, o1) = (s - 1).multipliedReportingOverflow(by: st)
                let (b, o2) = maxIndex.addingReportingOverflow(a)
                guard !o1, !o2 else { throw CheckpointError.invalid("tensor extent overflows (size \(shape), stride \(strides))") }
                maxIndex = b
            }
            let (end, o3) = (maxIndex + 1).multipliedReportingOverflow(by: dtype.itemSize)
            guard !o3, maxIndex < Int.max, end <= storage.nbytes else {
                throw CheckpointError.invalid("tensor view (offset \(storageOffset), size \(shape), stride \(strides)) runs past its storage of \(storage.nbytes) bytes (key \(storage.key))")
            }
        }
        self.storage = storage; self.dtype = dtype; self.shape = shape; self.strides = strides
        self.storageOffset = storageOffset; self.numel = numel
    }

    public var pythonTypeName: String { isParameter ? "torch.nn.Parameter" : "torch.Tensor" }
    public var hasData: Bool { storage != nil }

    /// The tensor's logical values, C order, little-endian, conj/neg resolved: what `sha256` hashes.
    public func logicalBytes() throws -> [UInt8] {
        var out: [UInt8] = []
        try forEachLogicalChunk { out.append(contentsOf: $0) }
        return out
    }

    /// `logicalBytes()` handed to `body` in order, in pieces of at most `chunkBytes`: memory stays at one piece
    /// whatever size a view expands to (a stride-0 view may stand for far more bytes than its storage holds; the
    /// expanded size is still bounded by `maxExpandedBytes`, which bounds the time).
    public func forEachLogicalChunk(chunkBytes: Int = 1 << 20, _ body: (UnsafeRawBufferPointer) -> Void) throws {
        let item = dtype.itemSize
        if numel == 0 { return }
        guard let storage else { throw CheckpointError.invalid("tensor has no data (meta tensor)") }
        let (total, o) = numel.multipliedReportingOverflow(by: item)
        guard !o, total <= max(storage.nbytes, TensorRef.maxExpandedBytes) else {
            throw CheckpointError.invalid("expanded tensor of \(numel) elements is too large to materialise")
        }
        let perChunk = max(1, chunkBytes / item)
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: min(numel, perChunk) * item, alignment: 16)
        defer { chunk.deallocate() }
        var filled = 0
        func flush() {
            let piece = UnsafeMutableRawBufferPointer(rebasing: chunk[0..<(filled * item)])
            resolveByteOrderAndSigns(piece)
            body(UnsafeRawBufferPointer(piece))
            filled = 0
        }
        try storage.withBytes { src in
            guard let base = src.baseAddress else { return }
            if isContiguous {
                var done = 0
                while done < numel {
                    filled = min(perChunk, numel - done)
                    chunk.baseAddress!.copyMemory(from: base + (storageOffset + done) * item, byteCount: filled * item)
                    done += filled
                    flush()
                }
            } else {
                forEachElementOffset { off in
                    (chunk.baseAddress! + filled * item).copyMemory(from: base + off * item, byteCount: item)
                    filled += 1
                    if filled == perChunk { flush() }
                }
                if filled > 0 { flush() }
            }
        }
    }

    /// Big-endian storages to little-endian, then the neg / conj views' sign flips, on whole elements.
    private func resolveByteOrderAndSigns(_ p: UnsafeMutableRawBufferPointer) {
        let component = dtype.componentSize
        if storage?.bigEndian == true, component > 1 {
            for start in stride(from: 0, to: p.count, by: component) {
                var lo = start, hi = start + component - 1
                while lo < hi { p.swapAt(lo, hi); lo += 1; hi -= 1 }
            }
        }
        if neg { negate(p, components: dtype.isComplex ? [0, 1] : [0]) }
        if conj && dtype.isComplex { negate(p, components: [1]) }
    }

    private var isContiguous: Bool {
        var expected = 1
        for (s, st) in zip(shape, strides).reversed() where s != 1 {
            if st != expected { return false }
            expected *= s
        }
        return true
    }

    /// Visits storage element offsets of every logical element in C order.
    private func forEachElementOffset(_ body: (Int) -> Void) {
        let nd = shape.count
        if nd == 0 { body(storageOffset); return }
        var index = [Int](repeating: 0, count: nd)
        var off = storageOffset
        for _ in 0..<numel {
            body(off)
            var d = nd - 1
            while d >= 0 {
                index[d] += 1; off += strides[d]
                if index[d] < shape[d] { break }
                off -= strides[d] * shape[d]; index[d] = 0; d -= 1
            }
        }
    }

    /// Negates components (0 = real, 1 = imaginary) in place: sign-bit flip for floats, two's complement for ints.
    private func negate(_ p: UnsafeMutableRawBufferPointer, components: [Int]) {
        let item = dtype.itemSize, comp = dtype.componentSize
        for start in stride(from: 0, to: p.count, by: item) {
            for c in components {
                let o = start + c * comp
                if dtype.isFloatingPoint || dtype.isComplex {
                    p[o + comp - 1] ^= 0x80
                } else {
                    var carry = 1
                    for k in 0..<comp { let v = Int(~p[o + k]) + carry; p[o + k] = UInt8(v & 0xFF); carry = v >> 8 }
                }
            }
        }
    }

    /// Calls `body` with the values as float32, C order, without copying when the tensor is a contiguous
    /// little-endian float32 view of a mapped record (the common case: torch aligns zip payloads to 64 bytes);
    /// otherwise with a converted copy.
    public func withFloats<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) throws -> R {
        if dtype == .float32, !neg, let storage, !storage.bigEndian, isContiguous, numel > 0 {
            return try storage.withBytes { src in
                let start = src.baseAddress! + storageOffset * 4
                if Int(bitPattern: start) % MemoryLayout<Float>.alignment == 0 {
                    return try body(UnsafeBufferPointer(start: start.assumingMemoryBound(to: Float.self), count: numel))
                }
                return try floats().withUnsafeBufferPointer(body)
            }
        }
        return try floats().withUnsafeBufferPointer(body)
    }

    /// Values as float32, C order (real dtypes only; integers and bools convert).
    public func floats() throws -> [Float] {
        guard !dtype.isComplex else { throw CheckpointError.unsupported("\(dtype) tensor cannot be read as real numbers") }
        if dtype == .float32, !neg, let storage, !storage.bigEndian, isContiguous {
            if numel == 0 { return [] }
            return try storage.withBytes { src in
                [Float](unsafeUninitializedCapacity: numel) { buf, n in
                    UnsafeMutableRawPointer(buf.baseAddress!).copyMemory(from: src.baseAddress! + storageOffset * 4, byteCount: numel * 4)
                    n = numel
                }
            }
        }
        let bytes = try logicalBytes()
        let item = dtype.itemSize
        return bytes.withUnsafeBytes { p in
            (0..<numel).map { Float(dtype.double(p.baseAddress!, $0 * item)) }
        }
    }

    /// Values as float64 (complex: real parts; see `complexValues`).
    public func doubles() throws -> [Double] {
        let bytes = try logicalBytes()
        let item = dtype.itemSize
        return bytes.withUnsafeBytes { p in numel == 0 ? [] : (0..<numel).map { dtype.double(p.baseAddress!, $0 * item) } }
    }

    public func complexValues() throws -> [(Double, Double)] {
        let bytes = try logicalBytes()
        let item = dtype.itemSize
        return bytes.withUnsafeBytes { p in
            numel == 0 ? [] : (0..<numel).map { (dtype.double(p.baseAddress!, $0 * item), dtype.imaginary(p.baseAddress!, $0 * item)) }
        }
    }

    public func int64s() throws -> [Int64] {
        let bytes = try logicalBytes()
        let item = dtype.itemSize
        return bytes.withUnsafeBytes { p in numel == 0 ? [] : (0..<numel).map { dtype.int64(p.baseAddress!, $0 * item) } }
    }

    /// Hex SHA-256 of `logicalBytes()` (contract C2); nil for meta tensors.
    public func sha256() throws -> String? {
        if storage == nil && numel > 0 { return nil }
        var hasher = Hashing.SHA256Stream()
        try forEachLogicalChunk { hasher.update($0) }
        return hasher.hex()
    }
}
