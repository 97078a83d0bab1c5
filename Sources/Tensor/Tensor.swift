// The float32 tensor type.
//
// Images are NCHW. Activations between oneDNN convolutions may instead stay in oneDNN's blocked `nChw16c` layout
// (16 channels interleaved, the native layout of its AVX-512 kernels), which saves two reorders per convolution;
// `layout` records which one a tensor holds, and every kernel says which layouts it accepts.

/// Physical arrangement of a tensor's values.
public enum TensorLayout: Hashable, Sendable, CustomStringConvertible {
    /// Row-major and contiguous in the order of `shape` (NCHW for 4-d image tensors, [B, N, D] for tokens).
    case plain
    /// oneDNN `nChw16c` for 4-d tensors: `[N][ceil(C/16)][H][W][16]`; channels past C are zero.
    case nChw16c
    /// Channels last for 4-d tensors: `[N][H][W][C]`, i.e. `[N, H·W, C]` tokens.
    case nhwc

    public var description: String {
        switch self {
        case .plain: return "plain"
        case .nChw16c: return "nChw16c"
        case .nhwc: return "nhwc"
        }
    }
}

/// A float32 tensor: shape, layout and shared aligned storage. Kernels never write into an input's storage.
public struct Tensor: @unchecked Sendable, CustomStringConvertible {
    public let shape: [Int]
    public let layout: TensorLayout
    public let storage: TensorStorage

    /// Number of logical elements.
    public var count: Int { shape.reduce(1, *) }
    public var rank: Int { shape.count }
    public var pointer: UnsafeMutablePointer<Float> { storage.pointer }
    public var description: String { "Tensor(\(shape), \(layout))" }

    /// Number of floats the layout occupies (more than `count` for a padded blocked layout).
    public static func physicalCount(_ shape: [Int], _ layout: TensorLayout) -> Int {
        switch layout {
        case .plain, .nhwc: return shape.reduce(1, *)
        case .nChw16c: return shape[0] * ((shape[1] + 15) / 16) * 16 * shape[2] * shape[3]
        }
    }

    /// Wraps existing storage (which must hold at least `physicalCount(shape, layout)` floats).
    public init(shape: [Int], layout: TensorLayout = .plain, storage: TensorStorage) throws {
        try Tensor.validate(shape, layout)
        guard storage.capacity >= Tensor.physicalCount(shape, layout) else {
            throw TensorError.invalidArgument("storage of \(storage.capacity) floats is too small for \(shape) \(layout)")
        }
        self.shape = shape
        self.layout = layout
        self.storage = storage
    }

    /// Fresh storage with undefined contents except that block padding (channels past C) is zeroed.
    init(uninitialized shape: [Int], layout: TensorLayout = .plain) {
        self.shape = shape
        self.layout = layout
        self.storage = TensorStorage(uninitialized: Tensor.physicalCount(shape, layout))
        if layout == .nChw16c && shape[1] % 16 != 0 { zeroPadding() }
    }

    /// A zero tensor.
    public init(zeros shape: [Int], layout: TensorLayout = .plain) throws {
        try Tensor.validate(shape, layout)
        self.shape = shape
        self.layout = layout
        self.storage = TensorStorage(zeros: Tensor.physicalCount(shape, layout))
    }

    /// A plain tensor holding `values` in C order.
    public init(shape: [Int], values: [Float]) throws {
        try Tensor.validate(shape, .plain)
        guard values.count == shape.reduce(1, *) else {
            throw TensorError.invalidArgument("\(values.count) values do not fill shape \(shape)")
        }
        self.init(uninitialized: shape)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { storage.pointer.update(from: base, count: src.count) }
        }
    }

    /// A plain tensor filled by `body` (given the uninitialised buffer of `count` floats).
    public init(shape: [Int], fill body: (UnsafeMutableBufferPointer<Float>) throws -> Void) throws {
        try Tensor.validate(shape, .plain)
        self.init(uninitialized: shape)
        try body(UnsafeMutableBufferPointer(start: storage.pointer, count: count))
    }

    static func validate(_ shape: [Int], _ layout: TensorLayout) throws {
        guard shape.allSatisfy({ $0 >= 0 }) else { throw TensorError.invalidArgument("negative dimension in \(shape)") }
        var total = 1
        for d in shape {
            let (p, o) = total.multipliedReportingOverflow(by: Swift.max(d, 1))
            guard !o, p < (1 << 40) else { throw TensorError.invalidArgument("shape \(shape) is too large") }
            total = p
        }
        if layout != .plain && shape.count != 4 {
            throw TensorError.invalidArgument("\(layout) needs a 4-d shape, got \(shape)")
        }
    }

    /// Logical values in C order of `shape` (converting from a blocked layout if needed).
    public func toArray() -> [Float] {
        let t = plain()
        return Array(UnsafeBufferPointer(start: t.pointer, count: t.count))
    }

    /// The same values in plain layout (self if already plain).
    public func plain() -> Tensor { layout == .plain ? self : Profiler.measure("to plain") { converted(to: .plain) } }

    /// The same values in `layout`.
    public func to(_ layout: TensorLayout) throws -> Tensor {
        if layout == self.layout { return self }
        try Tensor.validate(shape, layout)
        return converted(to: layout)
    }

    /// A plain tensor with the same values and a new shape of equal element count.
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        guard newShape.reduce(1, *) == count, newShape.allSatisfy({ $0 >= 0 }) else {
            throw TensorError.shapeMismatch("cannot reshape \(shape) to \(newShape)")
        }
        let t = plain()
        return try Tensor(shape: newShape, layout: .plain, storage: t.storage)
    }

    /// Element at a logical multi-index (slow; for tests and debugging).
    public subscript(index: [Int]) -> Float {
        precondition(index.count == shape.count)
        var off = 0
        if layout == .plain {
            for (i, d) in zip(index, shape) { off = off * d + i }
        } else if layout == .nhwc {
            off = ((index[0] * shape[2] + index[2]) * shape[3] + index[3]) * shape[1] + index[1]
        } else {
            let cb = (shape[1] + 15) / 16
            off = (((index[0] * cb + index[1] / 16) * shape[2] + index[2]) * shape[3] + index[3]) * 16 + index[1] % 16
        }
        return storage.pointer[off]
    }

    private func zeroPadding() {
        let n = shape[0], c = shape[1], hw = shape[2] * shape[3], cb = (c + 15) / 16
        let lanes = c - (cb - 1) * 16
        for b in 0..<n {
            let base = storage.pointer + ((b * cb + cb - 1) * hw) * 16
            for p in 0..<hw { (base + p * 16 + lanes).initialize(repeating: 0, count: 16 - lanes) }
        }
    }

    /// Conversion between the 4-d layouts.
    private func converted(to target: TensorLayout) -> Tensor {
        let n = shape[0], c = shape[1], hw = shape[2] * shape[3], cb = (c + 15) / 16
        let out = Tensor(uninitialized: shape, layout: target)
        let src = storage.pointer, dst = out.storage.pointer
        switch (layout, target) {
        case (.plain, .nhwc):
            transpose2D(src, dst, batch: n, rows: c, cols: hw)
        case (.nhwc, .plain):
            transpose2D(src, dst, batch: n, rows: hw, cols: c)
        case (.nChw16c, .nhwc), (.nhwc, .nChw16c):
            let toBlocked = target == .nChw16c
            parallelFor(n * hw, grain: 64) { range in
                for job in range {
                    let b = job / hw, p = job % hw
                    let row = (toBlocked ? src : dst) + job * c
                    for blk in 0..<cb {
                        let lanes = Swift.min(16, c - blk * 16)
                        let block = (toBlocked ? dst : src) + ((b * cb + blk) * hw + p) * 16
                        if toBlocked { block.update(from: row + blk * 16, count: lanes) } else { row.advanced(by: blk * 16).update(from: block, count: lanes) }
                    }
                }
            }
        case (.plain, .nChw16c), (.nChw16c, .plain):
            // Tiles of 256 pixels. To blocked: pixel-major, reading `lanes` planar streams at once and writing the
            // blocked tile contiguously. To planar: lane-major over the tile, which stays in L1.
            let tile = 256
            let tiles = (hw + tile - 1) / tile
            parallelFor(n * cb * tiles, grain: 4) { range in
                for job in range {
                    let bb = job / tiles, t = job % tiles
                    let b = bb / cb, blk = bb % cb
                    let lanes = Swift.min(16, c - blk * 16)
                    let blocked = (b * cb + blk) * hw * 16
                    let planar = (b * c + blk * 16) * hw
                    let p0 = t * tile, p1 = Swift.min(hw, p0 + tile)
                    if target == .nChw16c {
                        for p in p0..<p1 {
                            let d = dst + blocked + p * 16
                            for l in 0..<lanes { d[l] = src[planar + l * hw + p] }
                        }
                    } else {
                        // The 256-pixel source tile (16 KB) stays in L1 while each lane is written as one run.
                        for l in 0..<lanes {
                            let s = src + blocked + l, d = dst + planar + l * hw
                            for p in p0..<p1 { d[p] = s[p * 16] }
                        }
                    }
                }
            }
        default:
            dst.update(from: src, count: Tensor.physicalCount(shape, layout))
        }
        return out
    }
}

/// Errors from tensor kernels: bad shapes or arguments, or a oneDNN failure.
public enum TensorError: Error, CustomStringConvertible, Equatable {
    case shapeMismatch(String)
    case invalidArgument(String)
    case dnnl(String)

    public var description: String {
        switch self {
        case .shapeMismatch(let m): return "shape mismatch: \(m)"
        case .invalidArgument(let m): return "invalid argument: \(m)"
        case .dnnl(let m): return "oneDNN: \(m)"
        }
    }
}
