// enhancing-transformers `Transformer` (layers.py): pre-norm blocks
//   x = attn(norm(x)) + x;  x = ff(norm(x)) + x;  then a final LayerNorm.
// Attention: to_qkv Linear (no bias) → heads → softmax(q·kᵀ·dim_head^-0.5) → to_out Linear.
// FeedForward: Linear → tanh → Linear (tanh, not GELU).

import NN
import Tensor

final class ViTAttention {
    let heads: Int
    let scale: Float
    let toQKV: Linear
    /// `project_out = not (heads == 1 and dim_head == dim)`: otherwise `to_out` is nn.Identity (no keys).
    let toOut: Linear?
    let execution: ExecutionConfig

    init(_ w: Weights, dim: Int, heads: Int, dimHead: Int) throws {
        self.heads = heads
        execution = w.execution
        scale = 1 / Float(dimHead).squareRoot()
        let inner = heads * dimHead
        toQKV = try Linear(w.scope("to_qkv"), inFeatures: dim, outFeatures: inner * 3, bias: false)
        toOut = heads == 1 && dimHead == dim ? nil : try Linear(w.scope("to_out"), inFeatures: inner, outFeatures: dim)
    }

    /// `toOut(attention(x)) + residual`
    func callAsFunction(_ x: Tensor, residual: Tensor) throws -> Tensor {
        // `to_qkv(x).chunk(3, dim=-1)`, read in place.
        let out = try Tensor.multiHeadAttention(qkv: try toQKV(x), heads: heads, scale: scale,
                                                precision: execution.precision,
                                                roundsBFloat16Outputs: execution.roundsBFloat16Outputs)
        guard let toOut else { return try out.adding(residual) }
        return try toOut(out, residual: residual)
    }
}

final class ViTFeedForward {
    let net0: Linear
    let net2: Linear
    init(_ w: Weights, dim: Int, hidden: Int) throws {
        net0 = try Linear(w.scope("net").scope(0), inFeatures: dim, outFeatures: hidden)
        net2 = try Linear(w.scope("net").scope(2), inFeatures: hidden, outFeatures: dim)
    }
    func callAsFunction(_ x: Tensor, residual: Tensor) throws -> Tensor {
        try net2(try net0(x).tanh(), residual: residual)
    }
}

final class ViTTransformer {
    let layers: [(norm1: LayerNorm, attn: ViTAttention, norm2: LayerNorm, ff: ViTFeedForward)]
    let norm: LayerNorm

    init(_ w: Weights, dim: Int, depth: Int, heads: Int, dimHead: Int, mlpDim: Int) throws {
        guard dim > 0, depth >= 0, heads > 0, dimHead > 0, mlpDim > 0 else {
            throw WeightError.invalidConfiguration("ViT transformer dim \(dim) depth \(depth) heads \(heads) dim_head \(dimHead) mlp \(mlpDim)")
        }
        var ls: [(LayerNorm, ViTAttention, LayerNorm, ViTFeedForward)] = []
        for i in 0..<depth {
            let lw = w.scope("layers").scope(i)
            ls.append((try LayerNorm(lw.scope(0).scope("norm"), dimension: dim),
                       try ViTAttention(lw.scope(0).scope("fn"), dim: dim, heads: heads, dimHead: dimHead),
                       try LayerNorm(lw.scope(1).scope("norm"), dimension: dim),
                       try ViTFeedForward(lw.scope(1).scope("fn"), dim: dim, hidden: mlpDim)))
        }
        layers = ls
        norm = try LayerNorm(w.scope("norm"), dimension: dim)
    }

    func callAsFunction(_ input: Tensor) throws -> Tensor {
        var x = input
        for l in layers {
            x = try l.attn(try l.norm1(x), residual: x)
            x = try l.ff(try l.norm2(x), residual: x)
        }
        return try norm(x)
    }
}
