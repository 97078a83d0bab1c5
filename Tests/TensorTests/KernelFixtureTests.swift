import TestSupport
import XCTest
import Foundation
import Tensor

/// Every kernel against PyTorch (Fixtures/nn, tools/make_nn_fixtures.py), in both layouts where a kernel takes both.
final class KernelFixtureTests: XCTestCase {
    private func tensor(_ c: NNCase, _ key: String) throws -> Tensor {
        let a = try c.input(key)
        return try Tensor(shape: a.shape, values: a.values)
    }

    private func cases(_ kind: String) -> [NNCase] {
        let list = NNFixtures.cases(kind: kind).map(NNCase.init)
        XCTAssertFalse(list.isEmpty, "no fixtures of kind \(kind): run tools/make_nn_fixtures.py")
        return list
    }

    func testConv2d() throws {
        for c in cases("conv2d") {
            let w = try c.input("weight")
            let bias = c.inputs["bias"] != nil ? try c.input("bias").values : nil
            let s = c.params["stride"] as? Int ?? 1
            let p = c.params["pad_lrtb"] as? [Int] ?? [0, 0, 0, 0]
            let conv = try ConvolutionKernel(weight: w.values, shape: w.shape, bias: bias, stride: (s, s),
                                             padding: Padding2D(top: p[2], left: p[0], bottom: p[3], right: p[1]),
                                             execution: .reference)
            let x = try tensor(c, "x")
            let residual = c.inputs["residual"] != nil ? try tensor(c, "residual") : nil
            for layout in [TensorLayout.plain, .nChw16c, .nhwc] {
                let y = try conv(try x.to(layout), residual: try residual?.to(layout))
                try c.check(y.toArray(), shape: y.shape, label: "\(layout) in, \(y.layout) out")
            }
            // Forced output layouts.
            for out in [TensorLayout.plain, .nChw16c, .nhwc] {
                let y = try conv(x, residual: residual, layout: out)
                XCTAssertEqual(y.layout, out)
                try c.check(y.toArray(), shape: y.shape, label: "forced \(out)")
            }
        }
    }

    func testConvTranspose2d() throws {
        for c in cases("conv_transpose2d") {
            let w = try c.input("weight")
            let s = c.params["stride"] as? Int ?? 1
            let p = c.params["padding"] as? Int ?? 0
            let op = c.params["output_padding"] as? Int ?? 0
            let conv = try ConvolutionKernel(kind: .transposed, weight: w.values, shape: w.shape,
                                             bias: try c.input("bias").values, stride: (s, s), padding: Padding2D(p),
                                             outputPadding: (op, op), execution: .reference)
            let x = try tensor(c, "x")
            for layout in [TensorLayout.plain, .nChw16c, .nhwc] {
                let y = try conv(try x.to(layout))
                try c.check(y.toArray(), shape: y.shape, label: "\(layout) in")
            }
        }
    }

    func testLinear() throws {
        for c in cases("linear") {
            let w = try c.input("weight")
            let bias = c.inputs["bias"] != nil ? try c.input("bias").values : nil
            let lin = try LinearKernel(weight: w.values, outFeatures: w.shape[0], inFeatures: w.shape[1], bias: bias)
            let residual = c.inputs["residual"] != nil ? try tensor(c, "residual") : nil
            let y = try lin(try tensor(c, "x"), residual: residual)
            try c.check(y.toArray(), shape: y.shape)
            // A second call reuses the cached primitive and the reordered weights.
            let y2 = try lin(try tensor(c, "x"), residual: residual)
            XCTAssertEqual(y.toArray(), y2.toArray())
        }
    }

    func testGroupNorm() throws {
        for c in cases("group_norm") {
            let x = try tensor(c, "x")
            let layouts: [TensorLayout] = x.rank == 4 ? [.plain, .nChw16c, .nhwc] : [.plain]
            for layout in layouts {
                let y = try x.to(layout).groupNorm(groups: c.params["groups"] as? Int ?? 1,
                                                   gamma: try c.input("weight").values, beta: try c.input("bias").values,
                                                   eps: Float(c.params["eps"] as? Double ?? 1e-5),
                                                   silu: c.params["silu"] as? Bool ?? false)
                XCTAssertEqual(y.layout, layout == .nhwc ? .nChw16c : layout)
                try c.check(y.toArray(), shape: y.shape, label: "\(layout)")
            }
        }
    }

    func testLayerNorm() throws {
        for c in cases("layer_norm") {
            let y = try tensor(c, "x").layerNorm(gamma: try c.input("weight").values, beta: try c.input("bias").values,
                                                 eps: Float(c.params["eps"] as? Double ?? 1e-5))
            try c.check(y.toArray(), shape: y.shape)
        }
    }

    func testElementwise() throws {
        for c in cases("silu") { let y = try tensor(c, "x").silu(); try c.check(y.toArray(), shape: y.shape) }
        for c in cases("tanh") { let y = try tensor(c, "x").tanh(); try c.check(y.toArray(), shape: y.shape) }
        for c in cases("add") {
            let a = try tensor(c, "x"), b = try tensor(c, "y")
            for layout in [TensorLayout.plain, .nChw16c, .nhwc] {
                let y = try a.to(layout) + b
                try c.check(y.toArray(), shape: y.shape, label: "\(layout)")
            }
        }
    }

    func testSoftmax() throws {
        for c in cases("softmax") { let y = try tensor(c, "x").softmax(); try c.check(y.toArray(), shape: y.shape) }
    }

    func testUpsampleAndPad() throws {
        for layout in [TensorLayout.plain, .nChw16c, .nhwc] {
            for c in cases("upsample_nearest2x") {
                let y = try tensor(c, "x").to(layout).upsampleNearest2x()
                XCTAssertEqual(y.layout, layout)
                try c.check(y.toArray(), shape: y.shape, label: "\(layout)")
            }
            for c in cases("pad") {
                let p = c.params["pad_lrtb"] as? [Int] ?? [0, 0, 0, 0]
                let y = try tensor(c, "x").to(layout).padded(Padding2D(top: p[2], left: p[0], bottom: p[3], right: p[1]))
                try c.check(y.toArray(), shape: y.shape, label: "\(layout)")
            }
            for c in cases("image_to_tokens") {
                let x = try tensor(c, "x")
                let y = try x.to(layout).imageToTokens()
                try c.check(y.toArray(), shape: y.shape, label: "\(layout)")
                // And back.
                let back = try y.tokensToImage(height: x.shape[2], width: x.shape[3], layout: layout)
                XCTAssertEqual(back.toArray(), x.toArray())
            }
        }
        for c in cases("permute") {
            let y = try tensor(c, "x").permuted(c.params["order"] as? [Int] ?? [])
            try c.check(y.toArray(), shape: y.shape)
        }
    }

    /// Every pair of layouts converts losslessly, and block padding stays zero.
    func testLayoutConversions() throws {
        for shape in [[2, 20, 3, 5], [1, 16, 4, 4], [1, 3, 2, 7]] {
            let values = (0..<shape.reduce(1, *)).map { Float($0) * 0.5 - 3 }
            let x = try Tensor(shape: shape, values: values)
            for a in [TensorLayout.plain, .nChw16c, .nhwc] {
                for b in [TensorLayout.plain, .nChw16c, .nhwc] {
                    let y = try x.to(a).to(b)
                    XCTAssertEqual(y.layout, b)
                    XCTAssertEqual(y.toArray(), values, "\(shape) \(a) -> \(b)")
                    XCTAssertEqual(y[[shape[0] - 1, shape[1] - 1, 1, 2]], x[[shape[0] - 1, shape[1] - 1, 1, 2]])
                }
            }
            let blocked = try x.to(.nChw16c).affine(scale: 2, shift: 1).clamped(min: 0.5, max: 4)
            let want = values.map { Swift.min(Swift.max($0 * 2 + 1, 0.5), 4) }
            XCTAssertEqual(blocked.toArray(), want)
            if shape[1] % 16 != 0 {
                // The padded lanes of a blocked result must still be zero.
                let b = try blocked.to(.nChw16c)
                let cb = (shape[1] + 15) / 16
                let tail = (0..<(shape[2] * shape[3])).flatMap { p in
                    (shape[1] % 16..<16).map { b.pointer[((cb - 1) * shape[2] * shape[3] + p) * 16 + $0] }
                }
                XCTAssertTrue(tail.allSatisfy { $0 == 0 })
            }
        }
        XCTAssertThrowsError(try Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6]).to(.nhwc))
        let chunks = try Tensor(shape: [2, 6], values: (0..<12).map(Float.init)).chunkedLastDimension(3)
        XCTAssertEqual(chunks.map { $0.toArray() }, [[0, 1, 6, 7], [2, 3, 8, 9], [4, 5, 10, 11]])
        let d = try Tensor(shape: [3], values: [1, 2, 3]) - Tensor(shape: [3], values: [0.5, 0.5, 4])
        XCTAssertEqual(d.toArray(), [0.5, 1.5, -1])
    }

    func testL2Normalize() throws {
        for c in cases("l2_normalize") {
            let y = try tensor(c, "x").l2Normalized(eps: Float(c.params["eps"] as? Double ?? 1e-12))
            try c.check(y.toArray(), shape: y.shape)
        }
    }

    func testMatmulAndAttention() throws {
        for c in cases("matmul") {
            let y = try Tensor.matmul(try tensor(c, "a"), try tensor(c, "b"),
                                      transposeA: c.params["transpose_a"] as? Bool ?? false,
                                      transposeB: c.params["transpose_b"] as? Bool ?? false,
                                      alpha: Float(c.params["alpha"] as? Double ?? 1))
            try c.check(y.toArray(), shape: y.shape)
        }
        for c in cases("multi_head_attention") {
            let heads = c.params["heads"] as? Int ?? 1, scale = Float(c.params["scale"] as? Double ?? 1)
            let q = try tensor(c, "q"), k = try tensor(c, "k"), v = try tensor(c, "v")
            let y = try Tensor.multiHeadAttention(q: q, k: k, v: v, heads: heads, scale: scale)
            try c.check(y.toArray(), shape: y.shape)
            // The same from a fused [B, N, 3·H·D] projection (q | k | v along the last dimension).
            let (b, n, hd) = (q.shape[0], q.shape[1], q.shape[2])
            let qa = q.toArray(), ka = k.toArray(), va = v.toArray()
            var fused = [Float]()
            for r in 0..<(b * n) {
                let row = (r * hd)..<((r + 1) * hd)
                fused.append(contentsOf: qa[row])
                fused.append(contentsOf: ka[row])
                fused.append(contentsOf: va[row])
            }
            let y2 = try Tensor.multiHeadAttention(qkv: try Tensor(shape: [b, n, 3 * hd], values: fused), heads: heads, scale: scale)
            try c.check(y2.toArray(), shape: y2.shape, label: "fused qkv")
        }
    }

    /// Nearest-code search against PyTorch's indices; a different index is only allowed at a float64 near-tie.
    func testCodebookSearch() throws {
        let entries = NNFixtures.manifest["codebooks"] as? [[String: Any]] ?? []
        XCTAssertEqual(entries.count, 4)
        for e in entries {
            let name = e["name"] as? String ?? "?"
            let z = try NNFixtures.floats(e["z"] as? String ?? "")
            let cb = try NNFixtures.floats(e["codebook"] as? String ?? "")
            let want = try NNFixtures.array(e["indices"] as? String ?? "").int64s()
            let margin = try NNFixtures.array(e["margin64"] as? String ?? "").doubles()
            let nearTie = e["near_tie"] as? Double ?? 1e-5
            var zt = try Tensor(shape: z.shape, values: z.values)
            var codes = try Tensor(shape: cb.shape, values: cb.values)
            let metric: CodeMetric
            switch e["metric"] as? String {
            case "squared_euclidean": metric = .squaredEuclidean
            case "l2norm_squared_euclidean":
                metric = .squaredEuclidean
                zt = try zt.l2Normalized(); codes = try codes.l2Normalized()
            case "euclidean": metric = .euclidean
            case "l2norm_dot": metric = .dot; zt = try zt.l2Normalized()
            default: XCTFail("unknown metric"); continue
            }
            let got = try CodebookSearch(codes: codes).nearest(zt, metric: metric).indices
            var differing = 0
            for i in 0..<want.count where got[i] != Int(want[i]) {
                differing += 1
                XCTAssertLessThan(margin[i], nearTie, "\(name) row \(i): code \(got[i]) vs PyTorch \(want[i])")
            }
            print("  codebook \(name): \(want.count - differing)/\(want.count) indices equal to PyTorch")
        }
    }
}
