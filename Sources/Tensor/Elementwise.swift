// Elementwise kernels: SiLU, tanh, add, scale. They act on the physical buffer, so they work for every layout
// (block padding holds zeros, and f(0) = 0 for each f here, so it stays zero).

extension Tensor {
    /// Applies `f` to 16 lanes at a time over the whole buffer, in parallel, into fresh storage. If f(0) may be
    /// nonzero (`zeroSafe` false), a padded blocked tensor is first converted to plain so padding stays zero.
    /// `f` is a generic value rather than a closure so that the optimiser specialises the loop and inlines it.
    @inline(__always)
    func mapVectors<F: LaneFunction>(zeroSafe: Bool = true, _ f: F) -> Tensor {
        if !zeroSafe && layout == .nChw16c && shape[1] % 16 != 0 { return plain().mapVectors(f) }
        let out = Tensor(uninitialized: shape, layout: layout)
        let n = Tensor.physicalCount(shape, layout)
        let src = pointer, dst = out.pointer
        let blocks = (n + 15) / 16
        parallelFor(blocks, grain: 4096) { range in
            for b in range {
                let i = b * 16
                if i + 16 <= n {
                    storeVec(f(loadVec(src + i)), dst + i)
                } else {
                    var v = Vec16(repeating: 0)
                    for k in 0..<(n - i) { v[k] = src[i + k] }
                    let r = f(v)
                    for k in 0..<(n - i) { dst[i + k] = r[k] }
                }
            }
        }
        return out
    }

    /// SiLU / swish: x · sigmoid(x).
    public func silu() -> Tensor { mapVectors(SiLULanes()) }

    /// Hyperbolic tangent.
    public func tanh() -> Tensor { mapVectors(TanhLanes()) }

    /// Multiplies every element by `s`.
    public func scaled(by s: Float) -> Tensor { mapVectors(AffineLanes(scale: Vec16(repeating: s), shift: Vec16())) }

    /// x · scale + shift elementwise (separately rounded multiply and add, as PyTorch's `x * a + b`).
    public func affine(scale: Float, shift: Float) -> Tensor {
        mapVectors(zeroSafe: shift == 0, AffineLanes(scale: Vec16(repeating: scale), shift: Vec16(repeating: shift)))
    }

    /// Elementwise min(max(x, lo), hi) (torch.clamp; NaN stays NaN).
    public func clamped(min lo: Float, max hi: Float) -> Tensor {
        mapVectors(zeroSafe: lo <= 0 && hi >= 0, ClampLanes(lo: Vec16(repeating: lo), hi: Vec16(repeating: hi)))
    }

    /// Elementwise sum; `other` must have the same shape (it is converted to this tensor's layout if needed).
    public func adding(_ other: Tensor) throws -> Tensor { try zipVectors(other, "add", BinaryLanes.add) }

    /// Elementwise difference self − other.
    public func subtracting(_ other: Tensor) throws -> Tensor { try zipVectors(other, "subtract", BinaryLanes.subtract) }

    /// Elementwise product.
    public func multiplying(_ other: Tensor) throws -> Tensor { try zipVectors(other, "multiply", BinaryLanes.multiply) }

    @inline(__always)
    private func zipVectors(_ other: Tensor, _ what: String, _ f: BinaryLanes) throws -> Tensor {
        guard other.shape == shape else {
            throw TensorError.shapeMismatch("cannot \(what) \(other.shape) and \(shape)")
        }
        let o = try other.to(layout)
        let out = Tensor(uninitialized: shape, layout: layout)
        let n = Tensor.physicalCount(shape, layout)
        let a = pointer, b = o.pointer, dst = out.pointer
        let blocks = (n + 15) / 16
        parallelFor(blocks, grain: 4096) { range in
            for blk in range {
                let i = blk * 16
                if i + 16 <= n {
                    storeVec(f(loadVec(a + i), loadVec(b + i)), dst + i)
                } else {
                    var va = Vec16(), vb = Vec16()
                    for k in i..<n { va[k - i] = a[k]; vb[k - i] = b[k] }
                    let r = f(va, vb)
                    for k in i..<n { dst[k] = r[k - i] }
                }
            }
        }
        return out
    }

    public static func + (lhs: Tensor, rhs: Tensor) throws -> Tensor { try lhs.adding(rhs) }
    public static func - (lhs: Tensor, rhs: Tensor) throws -> Tensor { try lhs.subtracting(rhs) }
}

/// A lane-wise function of one vector (see `mapVectors`).
protocol LaneFunction {
    func callAsFunction(_ v: Vec16) -> Vec16
}

struct SiLULanes: LaneFunction {
    @inline(__always) func callAsFunction(_ v: Vec16) -> Vec16 { vsilu(v) }
}

struct TanhLanes: LaneFunction {
    @inline(__always) func callAsFunction(_ v: Vec16) -> Vec16 { vtanh(v) }
}

struct AffineLanes: LaneFunction {
    let scale: Vec16, shift: Vec16
    @inline(__always) func callAsFunction(_ v: Vec16) -> Vec16 { v * scale + shift }
}

struct ClampLanes: LaneFunction {
    let lo: Vec16, hi: Vec16
    @inline(__always) func callAsFunction(_ v: Vec16) -> Vec16 {
        vmin(vmax(v, lo), hi).replacing(with: v, where: v .!= v)
    }
}

/// Lane-wise arithmetic of two vectors.
enum BinaryLanes {
    case add, subtract, multiply
    @inline(__always) func callAsFunction(_ a: Vec16, _ b: Vec16) -> Vec16 {
        switch self {
        case .add: return a + b
        case .subtract: return a - b
        case .multiply: return a * b
        }
    }
}
