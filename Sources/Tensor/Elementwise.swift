// Elementwise kernels: SiLU, tanh, add, scale. They act on the physical buffer, so they work for every layout
// (block padding holds zeros, and f(0) = 0 for each f here, so it stays zero).

extension Tensor {
    /// Applies `f` to 16 lanes at a time over the whole buffer, in parallel, into fresh storage.
    @inline(__always)
    func mapVectors(_ f: (Vec16) -> Vec16) -> Tensor {
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
    public func silu() -> Tensor { mapVectors(vsilu) }

    /// Hyperbolic tangent.
    public func tanh() -> Tensor { mapVectors(vtanh) }

    /// Multiplies every element by `s`.
    public func scaled(by s: Float) -> Tensor { mapVectors { $0 * s } }

    /// Elementwise sum; `other` must have the same shape (it is converted to this tensor's layout if needed).
    public func adding(_ other: Tensor) throws -> Tensor {
        guard other.shape == shape else {
            throw TensorError.shapeMismatch("cannot add \(other.shape) to \(shape)")
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
                    storeVec(loadVec(a + i) + loadVec(b + i), dst + i)
                } else {
                    for k in i..<n { dst[k] = a[k] + b[k] }
                }
            }
        }
        return out
    }

    public static func + (lhs: Tensor, rhs: Tensor) throws -> Tensor { try lhs.adding(rhs) }
}
