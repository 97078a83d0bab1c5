// Copy kernels: torch.cat along channels, optionally rectifying (ReLU) while copying, and a standalone ReLU.
//
// For one image, a tensor's values are contiguous in both layouts (plain: C·H·W floats; nChw16c: ceil(C/16)·H·W·16
// floats), so concatenating along channels is a sequence of per-image block copies, provided every part but the
// last fills whole 16-channel blocks in the blocked layout (the last part's zero padding becomes the result's).
// Inception's branch widths are all multiples of 16, so its concatenations never leave the blocked layout.

extension Tensor {
    /// torch.cat(parts, dim=1) for 4-d tensors of equal N, H, W. The result is nChw16c if the first part is and
    /// every part but the last has a multiple of 16 channels, plain otherwise.
    /// With `relu`, every value is replaced by max(0, value) on the way (torch.relu of each part, then cat).
    public static func concatChannels(_ parts: [Tensor], relu: Bool = false) throws -> Tensor {
        try Profiler.measure(relu ? "concat+relu" : "concat") { try concat(parts, relu: relu) }
    }

    private static func concat(_ parts: [Tensor], relu: Bool) throws -> Tensor {
        guard let first = parts.first else { throw TensorError.invalidArgument("concatenation of no tensors") }
        guard parts.allSatisfy({ $0.rank == 4 }) else {
            throw TensorError.shapeMismatch("channel concatenation expects 4-d tensors, got \(parts.map(\.shape))")
        }
        let n = first.shape[0], h = first.shape[2], w = first.shape[3]
        guard parts.allSatisfy({ $0.shape[0] == n && $0.shape[2] == h && $0.shape[3] == w }) else {
            throw TensorError.shapeMismatch("cannot concatenate \(parts.map(\.shape)) along channels")
        }
        // Channels-last interleaves the parts per pixel: such inputs are concatenated in the plain layout.
        var layout: TensorLayout = first.layout == .nChw16c ? .nChw16c : .plain
        if layout == .nChw16c && parts.dropLast().contains(where: { $0.shape[1] % 16 != 0 }) { layout = .plain }
        let xs = try parts.map { try $0.to(layout) }
        let channels = xs.reduce(0) { $0 + $1.shape[1] }
        let out = Tensor(uninitialized: [n, channels, h, w], layout: layout)
        // Floats per image of each part and of the result, in this layout.
        let sizes = xs.map { Tensor.physicalCount([1] + Array($0.shape.dropFirst()), layout) }
        let outSize = Tensor.physicalCount([1, channels, h, w], layout)
        var offsets = [Int](), acc = 0
        for s in sizes { offsets.append(acc); acc += s }
        // Jobs: (image, part, slice of at most `piece` floats), so that one big part still spreads over threads.
        let piece = 1 << 16
        var jobs: [(part: Int, image: Int, start: Int, count: Int)] = []
        for b in 0..<n {
            for (i, s) in sizes.enumerated() {
                var start = 0
                while start < s { jobs.append((i, b, start, Swift.min(piece, s - start))); start += piece }
            }
        }
        let dst = out.pointer
        let srcs = xs.map(\.pointer)
        jobs.withUnsafeBufferPointer { jb in
            parallelFor(jb.count, grain: 4) { range in
                for j in range {
                    let job = jb[j]
                    let s = srcs[job.part] + job.image * sizes[job.part] + job.start
                    let d = dst + job.image * outSize + offsets[job.part] + job.start
                    if relu { rectify(s, d, job.count) } else { d.update(from: s, count: job.count) }
                }
            }
        }
        return out
    }

    /// torch.relu: max(0, x) elementwise (NaN stays NaN).
    public func relu() -> Tensor {
        Profiler.measure("relu") { rectified() }
    }

    /// torch.relu_(x) (`F.relu(x, inplace=True)`, as torchvision's BasicConv2d does it): rectifies this tensor's own
    /// storage. Only for a tensor whose storage the caller owns exclusively, such as a kernel's fresh output: every
    /// other tensor sharing the storage would change too (the one exception to "kernels never write into an
    /// input's storage"). Saves a pass that reads one buffer and writes another.
    public func reluInPlace() {
        Profiler.measure("relu (in place)") {
            let n = Tensor.physicalCount(shape, layout)
            let p = pointer
            let piece = 1 << 14
            parallelFor((n + piece - 1) / piece, grain: 4) { range in
                for j in range {
                    let start = j * piece
                    rectify(p + start, p + start, Swift.min(piece, n - start))
                }
            }
        }
    }

    private func rectified() -> Tensor {
        let out = Tensor(uninitialized: shape, layout: layout)
        let n = Tensor.physicalCount(shape, layout)
        let src = pointer, dst = out.pointer
        let piece = 1 << 14
        parallelFor((n + piece - 1) / piece, grain: 4) { range in
            for j in range {
                let start = j * piece
                rectify(src + start, dst + start, Swift.min(piece, n - start))
            }
        }
        return out
    }
}

/// dst[i] = max(0, src[i]) for i < count, keeping NaN (as torch.relu does).
@inline(__always)
private func rectify(_ src: UnsafeMutablePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int) {
    let zero = Vec16(repeating: 0)
    var i = 0
    while i + 16 <= count {
        let v = loadVec(src + i)
        // v < 0 ? 0 : v — a NaN compares false and is kept.
        storeVec(v.replacing(with: zero, where: v .< zero), dst + i)
        i += 16
    }
    while i < count { let v = src[i]; dst[i] = v < 0 ? 0 : v; i += 1 }
}
