#!/usr/bin/env python3
"""Fixtures for the Tensor and NN targets: inputs, weights and PyTorch float32 + float64 outputs.

    nice .venv-tools/bin/python tools/make_nn_fixtures.py          # writes Fixtures/nn/
    nice .venv-tools/bin/python tools/make_nn_fixtures.py --check  # regenerate into a temp dir and compare
    nice .venv-tools/bin/python tools/make_nn_fixtures.py --record-cpu-errors
                        # adds this CPU kind's PyTorch float32 error to the committed cases (see below)

Every case is evaluated twice by PyTorch: in float32, and in float64 on the same (float32-valued) inputs and
weights. The float64 result is the reference; PyTorch's own float32-vs-float64 error on the CPU kind the test runs
on sets the tolerance that vqrt must meet: `tolerance = factor * torch_error[kind] + floor`, with `factor` = 4 and
`floor` = 2^-22 * max|reference| for the max-abs error (2^-24 for the RMS): two float32 ulps at the largest
magnitude, for cases where PyTorch happens to be almost exact. The errors, floors and the rule are written into
Fixtures/nn/manifest.json, which the Swift tests read. Exact operations (copies, upsampling, padding) are marked
`"exact": true` and must match bit for bit.

PyTorch's own float32 error depends on the kernels it runs: its AVX2 convolutions accumulate in another order
than its AVX-512 ones, and their error measured up to 2.5x larger on the same case. It is recorded per CPU kind
(torch's CPU capability, AVX2 or AVX512) under `torch_f32_vs_f64_by_cpu`, the larger of the contiguous and (for
4-d inputs) channels_last runs; a test on a kind with no record fails. Generating records this machine's kind;
other kinds' entries are kept while a case's inputs are unchanged and its float64 output agrees to 1e-12
(relative). `--record-cpu-errors` re-evaluates every committed case in float32 on this machine and records its
kind (inputs, weights and float64 outputs stay as they are).

Byte-identical regeneration: the inputs depend only on the code; the float32 and float64 outputs on the CPU kind's
kernels, so a rerun reproduces every byte on a CPU of the kind in the manifest's `generated_on` (`--check` prints
the largest difference of each array that differs elsewhere).

Kernel cases store their weights as .npy. Block cases (the taming/ldm ResnetBlock, AttnBlock, Downsample,
Upsample, Encoder, Decoder) take their weights from the deterministic generator "vqrt-rng v1" (contract C4,
tools/vqrt_rng.py), so only the key list is stored and Swift regenerates identical weights.

The block modules are tools/reference/ldm_vqgan.py's (the reference the model fixtures use too), which restates
ldm/modules/diffusionmodules/model.py (CompVis/latent-diffusion, identical in taming-transformers) with the same
state-dict keys and the same arithmetic, including `x*torch.sigmoid(x)` as the nonlinearity and the explicit F.pad
before the stride-2 convolution.
"""
import filecmp
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vqrt_rng  # noqa: E402
from cpu_name import cpu_kind, cpu_name, processor  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
COMMITTED = os.path.join(ROOT, "Fixtures", "nn")
OUT = COMMITTED
COMMAND = "nice .venv-tools/bin/python tools/make_nn_fixtures.py"
FACTOR = 4.0
torch.set_num_threads(1)   # deterministic reductions; the error is measured, whatever it is

cases = []


def error(y32, y64):
    """PyTorch's float32 output against the float64 reference: (max abs, RMS)."""
    err = y32.astype(np.float64) - y64
    return (float(np.abs(err).max()) if err.size else 0.0), (float(np.sqrt(np.mean(err ** 2))) if err.size else 0.0)


def cpu_errors(case, y64):
    """This machine's entry of torch_f32_vs_f64_by_cpu: the worst layout's error against y64."""
    errs = [error(y, y64) for y in case["_y32"].values()]
    return {"maxabs": max(e[0] for e in errs), "rms": max(e[1] for e in errs), "processor": processor(),
            "layouts": list(case["_y32"]), "torch": torch.__version__}


def previous_by_cpu(c):
    """torch_f32_vs_f64_by_cpu of a committed case keyed by CPU kind (older files: "<kind> (<processor>)")."""
    out = {}
    for key, e in c.get("torch_f32_vs_f64_by_cpu", {}).items():
        kind, _, rest = key.partition(" (")
        e = dict(e)
        if rest and "processor" not in e:
            e["processor"], e["layouts"] = rest.rstrip(")"), ["contiguous"]
        out[kind] = e
    return out


def rand(seed, shape, scale=1.0, offset=0.0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * scale + offset).astype(np.float32)


def save(name, arr):
    path = os.path.join(OUT, name + ".npy")
    np.save(path, np.ascontiguousarray(arr))
    return name + ".npy"


def t32(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def add_case(name, kind, params, inputs, run, exact=False, int_inputs=None):
    """`run(dtype, tensors)` evaluates the case with inputs cast to dtype; returns one output tensor."""
    files = {k: save(f"{name}.{k}", v) for k, v in inputs.items()}
    for k, v in (int_inputs or {}).items():
        files[k] = save(f"{name}.{k}", v)
    layouts = {"contiguous": {k: t32(v) for k, v in inputs.items()}}
    if any(v.ndim == 4 for v in inputs.values()):   # channels_last runs other kernels
        layouts["channels_last"] = {k: t32(v).contiguous(memory_format=torch.channels_last) if v.ndim == 4
                                    else t32(v) for k, v in inputs.items()}
    with torch.no_grad():
        y32 = {layout: run(torch.float32, t).contiguous().numpy().astype(np.float32) for layout, t in layouts.items()}
        y64 = run(torch.float64, {k: t32(v).double() for k, v in inputs.items()})
    y32n = y32["contiguous"]
    y64n = y64.numpy().astype(np.float64)
    maxabs, rms = error(y32n, y64n)
    peak = float(np.abs(y64n).max()) if y64n.size else 0.0
    case = {
        "name": name, "kind": kind, "params": params, "inputs": files,
        "output_shape": list(y32n.shape),
        "expected_f32": save(f"{name}.out32", y32n),
        "expected_f64": save(f"{name}.out64", y64n),
        "torch_f32_vs_f64": {"maxabs": maxabs, "rms": rms},
        "exact": exact,
    }
    if not exact:
        case["tolerance_floor"] = {"maxabs": peak * 2.0 ** -22, "rms": peak * 2.0 ** -24}
        case["_y32"] = y32    # every layout's float32 output, until the errors per CPU kind are recorded
    cases.append(case)
    print(f"{name:28s} {kind:18s} out {list(y32n.shape)} torch f32-f64 max {maxabs:.3g} rms {rms:.3g}")
    return case


# ----------------------------------------------------------------------------------------------------------
# Kernel cases


def conv_case(name, x_shape, w_shape, stride=1, pad=(0, 0, 0, 0), bias=True, residual=False, seed=0):
    """pad = (left, right, top, bottom), applied with F.pad like ldm's Downsample when asymmetric."""
    x = rand(seed, x_shape)
    w = rand(seed + 1, w_shape, scale=1 / np.sqrt(np.prod(w_shape[1:])))
    inputs = {"x": x, "weight": w}
    if bias:
        inputs["bias"] = rand(seed + 2, [w_shape[0]], 0.1)
    if residual:
        oh = (x_shape[2] + pad[2] + pad[3] - w_shape[2]) // stride + 1
        ow = (x_shape[3] + pad[0] + pad[1] - w_shape[3]) // stride + 1
        inputs["residual"] = rand(seed + 3, [x_shape[0], w_shape[0], oh, ow])

    def run(dt, t):
        xx = t["x"]
        symmetric = pad[0] == pad[1] == pad[2] == pad[3]
        if not symmetric:
            xx = F.pad(xx, pad, mode="constant", value=0)
        y = F.conv2d(xx, t["weight"], t.get("bias"), stride=stride, padding=pad[0] if symmetric else 0)
        if residual:
            y = t["residual"] + y
        return y
    add_case(name, "conv2d", {"stride": stride, "pad_lrtb": list(pad), "bias": bias, "residual": residual},
             inputs, run)


def deconv_case(name, x_shape, w_shape, stride, padding=0, output_padding=0, seed=0):
    x = rand(seed, x_shape)
    w = rand(seed + 1, w_shape, scale=1 / np.sqrt(w_shape[0] * w_shape[2] * w_shape[3] / stride ** 2))
    b = rand(seed + 2, [w_shape[1]], 0.1)

    def run(dt, t):
        return F.conv_transpose2d(t["x"], t["weight"], t["bias"], stride=stride, padding=padding,
                                  output_padding=output_padding)
    add_case(name, "conv_transpose2d", {"stride": stride, "padding": padding, "output_padding": output_padding},
             {"x": x, "weight": w, "bias": b}, run)


def linear_case(name, x_shape, out_f, bias=True, residual=False, seed=0):
    in_f = x_shape[-1]
    inputs = {"x": rand(seed, x_shape), "weight": rand(seed + 1, [out_f, in_f], 1 / np.sqrt(in_f))}
    if bias:
        inputs["bias"] = rand(seed + 2, [out_f], 0.1)
    if residual:
        inputs["residual"] = rand(seed + 3, list(x_shape[:-1]) + [out_f])

    def run(dt, t):
        y = F.linear(t["x"], t["weight"], t.get("bias"))
        return t["residual"] + y if residual else y
    add_case(name, "linear", {"bias": bias, "residual": residual}, inputs, run)


def groupnorm_case(name, shape, groups, eps, silu, offset=0.0, seed=0):
    c = shape[1]
    inputs = {"x": rand(seed, shape, 2.0, offset), "weight": rand(seed + 1, [c], 0.2, 1.0),
              "bias": rand(seed + 2, [c], 0.2)}

    def run(dt, t):
        y = F.group_norm(t["x"], groups, t["weight"], t["bias"], eps)
        return y * torch.sigmoid(y) if silu else y
    add_case(name, "group_norm", {"groups": groups, "eps": eps, "silu": silu}, inputs, run)


def layernorm_case(name, shape, eps, offset=0.0, seed=0):
    d = shape[-1]
    inputs = {"x": rand(seed, shape, 1.5, offset), "weight": rand(seed + 1, [d], 0.2, 1.0),
              "bias": rand(seed + 2, [d], 0.2)}

    def run(dt, t):
        return F.layer_norm(t["x"], (d,), t["weight"], t["bias"], eps)
    add_case(name, "layer_norm", {"eps": eps}, inputs, run)


def build_kernel_cases():
    # Convolutions: the shapes of the VQ models, shrunk.
    conv_case("conv3x3", [2, 24, 13, 11], [40, 24, 3, 3], pad=(1, 1, 1, 1), seed=10)
    conv_case("conv3x3_c64_128", [1, 64, 12, 10], [128, 64, 3, 3], pad=(1, 1, 1, 1), seed=11)
    conv_case("conv_first", [1, 3, 17, 16], [32, 3, 3, 3], pad=(1, 1, 1, 1), seed=12)
    conv_case("conv_down_asym", [1, 32, 15, 14], [32, 32, 3, 3], stride=2, pad=(0, 1, 0, 1), seed=13)
    conv_case("conv1x1", [1, 48, 7, 9], [20, 48, 1, 1], seed=14)
    conv_case("conv_patch8", [1, 3, 32, 24], [64, 3, 8, 8], stride=8, seed=15)
    conv_case("conv_out3", [1, 64, 10, 12], [3, 64, 3, 3], pad=(1, 1, 1, 1), seed=16)
    conv_case("conv5x5_s2", [2, 16, 11, 13], [24, 16, 5, 5], stride=2, pad=(2, 2, 2, 2), seed=17)
    conv_case("conv_nobias", [1, 32, 9, 9], [32, 32, 3, 3], pad=(1, 1, 1, 1), bias=False, seed=18)
    conv_case("conv_residual", [1, 32, 9, 10], [64, 32, 3, 3], pad=(1, 1, 1, 1), residual=True, seed=19)
    deconv_case("deconv_k8s8", [1, 64, 4, 3], [64, 3, 8, 8], stride=8, seed=20)
    deconv_case("deconv_k4s2p1", [2, 16, 5, 6], [16, 8, 4, 4], stride=2, padding=1, seed=21)
    deconv_case("deconv_k3s2op1", [1, 32, 4, 5], [32, 16, 3, 3], stride=2, padding=1, output_padding=1, seed=22)

    linear_case("linear", [2, 10, 48], 40, seed=30)
    linear_case("linear_nobias", [37, 64], 96, bias=False, seed=31)
    linear_case("linear_residual", [3, 7, 32], 32, residual=True, seed=32)

    groupnorm_case("groupnorm_96_g32", [2, 96, 9, 11], 32, 1e-6, False, seed=40)
    groupnorm_case("groupnorm_96_g32_silu", [2, 96, 9, 11], 32, 1e-6, True, seed=41)
    groupnorm_case("groupnorm_40_g8_silu", [1, 40, 5, 7], 8, 1e-6, True, seed=42)
    groupnorm_case("groupnorm_512_g32_offset", [1, 512, 6, 5], 32, 1e-6, True, offset=30.0, seed=43)
    groupnorm_case("groupnorm_128_g32_large", [1, 128, 16, 20], 32, 1e-6, True, offset=3.0, seed=44)
    groupnorm_case("groupnorm_3d", [2, 64, 50], 32, 1e-5, False, seed=45)
    layernorm_case("layernorm_64", [3, 17, 64], 1e-5, seed=50)
    layernorm_case("layernorm_512_offset", [2, 9, 512], 1e-5, offset=20.0, seed=51)
    layernorm_case("layernorm_37", [5, 37], 1e-5, seed=52)

    # Elementwise over a wide range (including the exp over/underflow regions).
    xs = np.concatenate([np.linspace(-100, 100, 2001), rand(60, [999], 4.0).astype(np.float64)]).astype(np.float32)
    add_case("silu", "silu", {}, {"x": xs}, lambda dt, t: t["x"] * torch.sigmoid(t["x"]))
    add_case("tanh", "tanh", {}, {"x": xs / 10}, lambda dt, t: torch.tanh(t["x"]))
    add_case("softmax", "softmax", {}, {"x": rand(61, [4, 33, 77], 3.0)}, lambda dt, t: torch.softmax(t["x"], -1))
    add_case("softmax_wide", "softmax", {}, {"x": rand(62, [3, 4096], 8.0)}, lambda dt, t: torch.softmax(t["x"], -1))
    add_case("add", "add", {}, {"x": rand(63, [2, 20, 7, 5]), "y": rand(64, [2, 20, 7, 5])},
             lambda dt, t: t["x"] + t["y"])
    add_case("upsample2x", "upsample_nearest2x", {}, {"x": rand(65, [2, 20, 5, 6])},
             lambda dt, t: F.interpolate(t["x"], scale_factor=2.0, mode="nearest"), exact=True)
    add_case("pad", "pad", {"pad_lrtb": [0, 1, 2, 3]}, {"x": rand(66, [1, 18, 4, 5])},
             lambda dt, t: F.pad(t["x"], (0, 1, 2, 3), mode="constant", value=0), exact=True)
    add_case("l2norm", "l2_normalize", {"eps": 1e-12},
             {"x": np.concatenate([rand(67, [50, 32]), np.zeros([1, 32], np.float32)])},
             lambda dt, t: F.normalize(t["x"], dim=-1))
    add_case("matmul", "matmul", {"transpose_a": False, "transpose_b": False, "alpha": 1.0},
             {"a": rand(68, [3, 20, 33]), "b": rand(69, [3, 33, 17])}, lambda dt, t: torch.bmm(t["a"], t["b"]))
    add_case("matmul_ta_scaled", "matmul", {"transpose_a": True, "transpose_b": False, "alpha": 64 ** -0.5},
             {"a": rand(70, [2, 33, 20]), "b": rand(71, [2, 33, 17])},
             lambda dt, t: torch.bmm(t["a"].permute(0, 2, 1), t["b"]) * (64 ** -0.5))
    add_case("matmul_tb", "matmul", {"transpose_a": False, "transpose_b": True, "alpha": 1.0},
             {"a": rand(72, [2, 20, 33]), "b": rand(73, [2, 17, 33])},
             lambda dt, t: torch.bmm(t["a"], t["b"].permute(0, 2, 1)))

    def mha(dt, t, heads=4):
        q, k, v = t["q"], t["k"], t["v"]
        b, n, hd = q.shape
        d = hd // heads
        sp = lambda z: z.reshape(z.shape[0], z.shape[1], heads, d).permute(0, 2, 1, 3)
        a = torch.softmax(torch.matmul(sp(q), sp(k).transpose(-1, -2)) * d ** -0.5, dim=-1)
        return torch.matmul(a, sp(v)).permute(0, 2, 1, 3).reshape(b, n, hd)
    add_case("attention_4heads", "multi_head_attention", {"heads": 4, "scale": 16 ** -0.5},
             {"q": rand(74, [2, 25, 64]), "k": rand(75, [2, 25, 64]), "v": rand(76, [2, 25, 64])}, mha)
    add_case("tokens", "image_to_tokens", {}, {"x": rand(77, [2, 20, 3, 5])},
             lambda dt, t: t["x"].flatten(2).permute(0, 2, 1).contiguous(), exact=True)
    add_case("permute", "permute", {"order": [0, 2, 1, 3]}, {"x": rand(78, [2, 3, 4, 5])},
             lambda dt, t: t["x"].permute(0, 2, 1, 3).contiguous(), exact=True)


def build_codebook_cases():
    """Nearest-code search: expected indices from PyTorch float32 using each upstream formula, and the float64
    gap between the best and second-best code (`margin`) so that near-ties may legitimately differ."""
    rng = np.random.default_rng(80)
    entries = []

    def record(name, metric, z, e, idx32, dist64, smaller_is_better=True):
        order = np.sort(dist64, axis=1) if smaller_is_better else -np.sort(-dist64, axis=1)
        margin = np.abs(order[:, 1] - order[:, 0])
        entries.append({"name": name, "metric": metric, "z": save(f"code_{name}.z", z),
                        "codebook": save(f"code_{name}.codebook", e),
                        "indices": save(f"code_{name}.indices", idx32.astype(np.int64)),
                        "margin64": save(f"code_{name}.margin64", margin.astype(np.float64)),
                        "near_tie": 1e-5})
        print(f"codebook {name:20s} {metric:16s} N={z.shape[0]} K={e.shape[0]} min margin {margin.min():.3g}")

    # taming VectorQuantizer2: (Σz² + Σe²) − 2·z·e, argmin.
    e = rng.standard_normal([512, 4]).astype(np.float32)
    z = rng.standard_normal([600, 4]).astype(np.float32)
    z[:8] = e[[3, 7, 100, 200, 511, 0, 42, 42]]            # exact hits
    zt, et = torch.from_numpy(z), torch.from_numpy(e)
    d = torch.sum(zt ** 2, dim=1, keepdim=True) + torch.sum(et ** 2, dim=1) - 2 * torch.einsum(
        'bd,dn->bn', zt, et.t())
    idx = torch.argmin(d, dim=1).numpy()
    d64 = ((z.astype(np.float64)[:, None, :] - e.astype(np.float64)[None]) ** 2).sum(-1)
    record("taming", "squared_euclidean", z, e, idx, d64)

    # ViT-VQGAN: both sides l2-normalised, then the same expanded form.
    e = rng.standard_normal([1024, 32]).astype(np.float32)
    z = rng.standard_normal([300, 32]).astype(np.float32)
    zn, en = F.normalize(torch.from_numpy(z), dim=-1), F.normalize(torch.from_numpy(e), dim=-1)
    d = torch.sum(zn ** 2, dim=1, keepdim=True) + torch.sum(en ** 2, dim=1) - 2 * torch.einsum('b d, n d -> b n', zn, en)
    idx = torch.argmin(d, dim=1).numpy()
    z64 = z.astype(np.float64) / np.linalg.norm(z.astype(np.float64), axis=1, keepdims=True)
    e64 = e.astype(np.float64) / np.linalg.norm(e.astype(np.float64), axis=1, keepdims=True)
    record("vit_normalized", "l2norm_squared_euclidean", z, e, idx, ((z64[:, None] - e64[None]) ** 2).sum(-1))

    # lucidrains Euclidean: -sqrt(clamp(x2 + y2 - 2xy, 0)), argmax.
    e = rng.standard_normal([256, 8]).astype(np.float32)
    z = rng.standard_normal([400, 8]).astype(np.float32)
    z[:4] = e[[1, 2, 3, 255]]
    x, y = torch.from_numpy(z)[None], torch.from_numpy(e)[None]
    x2 = (x ** 2).sum(-1)
    y2 = (y ** 2).sum(-1)
    xy = torch.einsum('b i d, b j d -> b i j', x, y) * -2
    dist = -(x2[:, :, None] + y2[:, None, :] + xy).clamp(min=0).sqrt()
    idx = dist.argmax(dim=-1)[0].numpy()
    d64 = np.sqrt(((z.astype(np.float64)[:, None, :] - e.astype(np.float64)[None]) ** 2).sum(-1))
    record("lucidrains_euclidean", "euclidean", z, e, idx, d64)

    # lucidrains cosine: l2norm(x) · embed (embed as stored), argmax.
    e = F.normalize(torch.from_numpy(rng.standard_normal([512, 16]).astype(np.float32)), dim=-1).numpy()
    z = rng.standard_normal([300, 16]).astype(np.float32)
    zn = F.normalize(torch.from_numpy(z), dim=-1)
    idx = torch.einsum('h n d, h c d -> h n c', zn[None], torch.from_numpy(e)[None]).argmax(dim=-1)[0].numpy()
    z64 = z.astype(np.float64) / np.linalg.norm(z.astype(np.float64), axis=1, keepdims=True)
    record("lucidrains_cosine", "l2norm_dot", z, e, idx, z64 @ e.astype(np.float64).T, smaller_is_better=False)
    return entries


# ----------------------------------------------------------------------------------------------------------
# taming / ldm building blocks: the reference models' own (tools/reference/ldm_vqgan.py, which rt_vqvae.py reuses)

from reference.ldm_vqgan import AttnBlock, Decoder, Downsample, Encoder, ResnetBlock, Upsample  # noqa: E402


class Holder(nn.Module):
    """Puts a block under a realistic state-dict prefix (`encoder.`, `decoder.mid.block_1.` ...)."""

    def __init__(self, path, module):
        super().__init__()
        head, _, rest = path.partition(".")
        if rest:
            self.add_module(head, Holder(rest, module))
        else:
            self.add_module(head, module)
        self.path = path

    def target(self):
        m = self
        for part in self.path.split("."):
            m = getattr(m, part)
        return m


def block_case(name, kind, prefix, module, x, seed, params):
    holder = Holder(prefix, module)
    names = vqrt_rng.fill_state_dict(holder, seed)
    sd = holder.state_dict()
    tensors = [[n, list(sd[n].shape)] for n in names]
    holder.eval()
    m64 = Holder(prefix, __import__("copy").deepcopy(module)).double()
    m64.load_state_dict({k: v.double() for k, v in sd.items()})
    m64.eval()

    def run(dt, t):
        return (holder if dt == torch.float32 else m64).target()(t["x"])
    case = add_case(name, kind, params, {"x": x}, run)
    case["weights"] = {"generator": "vqrt-rng-v1", "seed": seed, "prefix": prefix, "tensors": tensors}


def build_block_cases():
    block_case("resnet_32_64", "resnet_block", "encoder.down.1.block.0", ResnetBlock(32, 64),
               rand(90, [1, 32, 12, 10]), 901, {"in": 32, "out": 64})
    block_case("resnet_64", "resnet_block", "decoder.up.0.block.1", ResnetBlock(64, 64),
               rand(91, [2, 64, 7, 9]), 902, {"in": 64, "out": 64})
    block_case("attn_64", "attn_block", "encoder.mid.attn_1", AttnBlock(64),
               rand(92, [2, 64, 8, 7]), 903, {"channels": 64})
    block_case("downsample_32", "downsample", "encoder.down.0.downsample", Downsample(32),
               rand(93, [1, 32, 15, 16]), 904, {"channels": 32})
    block_case("upsample_32", "upsample", "decoder.up.1.upsample", Upsample(32),
               rand(94, [1, 32, 6, 7]), 905, {"channels": 32})
    cfg = dict(ch=32, out_ch=3, ch_mult=[1, 2], num_res_blocks=1, attn_resolutions=[8], in_channels=3,
               resolution=16, z_channels=4, double_z=False, attn_type="vanilla")
    block_case("encoder_tiny", "encoder", "encoder", Encoder(**cfg), rand(95, [1, 3, 16, 16]), 906, cfg)
    block_case("decoder_tiny", "decoder", "decoder", Decoder(**cfg), rand(96, [1, 4, 8, 8]), 907, cfg)
    cfg3 = dict(ch=32, out_ch=3, ch_mult=[1, 1, 2], num_res_blocks=2, attn_resolutions=[], in_channels=3,
                resolution=32, z_channels=3, double_z=False, attn_type="none")
    block_case("encoder_noattn", "encoder", "encoder", Encoder(**cfg3), rand(97, [1, 3, 20, 24]), 908, cfg3)
    block_case("decoder_noattn", "decoder", "decoder", Decoder(**cfg3), rand(98, [1, 3, 5, 6]), 909, cfg3)


def build_all():
    cases.clear()
    build_kernel_cases()
    codebooks = build_codebook_cases()
    build_block_cases()
    return codebooks


def same_case(old_dir, old, new):
    """Whether a committed case has the inputs of the new one and a float64 output equal to 1e-12 relative."""
    for k, f in new["inputs"].items():
        a = os.path.join(old_dir, old["inputs"].get(k, "-"))
        if not os.path.exists(a) or not filecmp.cmp(a, os.path.join(OUT, f), shallow=False):
            return False
    a, b = np.load(os.path.join(old_dir, old["expected_f64"])), np.load(os.path.join(OUT, new["expected_f64"]))
    return a.shape == b.shape and (a.size == 0 or np.abs(a - b).max() <= 1e-12 * max(1.0, float(np.abs(b).max())))


def generate(previous_dir):
    """Writes every case into OUT; errors recorded on other CPU kinds are kept from previous_dir's manifest."""
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".npy"):
            os.remove(os.path.join(OUT, f))
    codebooks = build_all()
    old_cases = {}
    if os.path.exists(os.path.join(previous_dir, "manifest.json")):
        with open(os.path.join(previous_dir, "manifest.json")) as f:
            old_cases = {c["name"]: c for c in json.load(f)["cases"]}
    dropped = []
    for c in cases:
        if c["exact"]:
            continue
        by_cpu = {}
        old = old_cases.get(c["name"])
        others = {k: e for k, e in previous_by_cpu(old).items() if k != cpu_kind()} if old else {}
        if others and same_case(previous_dir, old, c):
            by_cpu.update(others)
        elif others:
            dropped.append(c["name"])
        by_cpu[cpu_kind()] = cpu_errors(c, np.load(os.path.join(OUT, c["expected_f64"])))
        c["torch_f32_vs_f64_by_cpu"] = dict(sorted(by_cpu.items()))
        del c["_y32"]
    if dropped:
        print(f"cases changed (inputs or float64 output): dropped the errors other CPU kinds recorded for "
              f"{', '.join(dropped)}; record them again on such a CPU with --record-cpu-errors")
    write_manifest(codebooks)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(cases)} cases + {len(codebooks)} codebook searches, {total / 1e6:.2f} MB")


TOLERANCE_RULE = ("on the CPU kind the test runs on: maxabs <= factor * torch_f32_vs_f64_by_cpu[kind].maxabs + "
                  "tolerance_floor.maxabs (2^-22 * max|f64|); rms <= factor * torch_f32_vs_f64_by_cpu[kind].rms + "
                  "tolerance_floor.rms (2^-24 * max|f64|); both against the f64 output; a kind with no entry fails")


def write_manifest(codebooks):
    manifest = {"command": COMMAND, "torch": torch.__version__, "cpu": cpu_name(), "generated_on": cpu_kind(),
                "factor": FACTOR, "tolerance_rule": TOLERANCE_RULE, "cases": cases, "codebooks": codebooks}
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write(README)


README = """# Fixtures/nn

Generated by `tools/make_nn_fixtures.py` (PyTorch 2.15, CPU, one thread; a minute or two):

    nice .venv-tools/bin/python tools/make_nn_fixtures.py                       # writes Fixtures/nn/
    nice .venv-tools/bin/python tools/make_nn_fixtures.py --check               # regenerate into a temp dir, compare
    nice .venv-tools/bin/python tools/make_nn_fixtures.py --record-cpu-errors   # add this CPU kind's PyTorch error

Inputs, weights and PyTorch float32/float64 outputs for the Tensor kernels and the NN blocks. `manifest.json`
lists every case with PyTorch's own float32-vs-float64 error per CPU kind (`torch_f32_vs_f64_by_cpu`: AVX2,
AVX512; the larger of the contiguous and channels_last runs) and the tolerance rule the tests apply:
`factor` (4) x the error recorded for the kind of CPU the test runs on, plus two float32 ulps of the largest
output (`tolerance_floor`). A kind with no entry fails the tests: run `--record-cpu-errors` on such a machine (it
changes nothing else). Rerunning the generator keeps the other kinds' entries while a case's inputs and float64
output are unchanged.

The float outputs depend on the CPU kind's kernels: a rerun is byte-identical on a CPU of the manifest's
`generated_on` kind and differs by rounding elsewhere (`--check` names the arrays and their largest difference).
"""


def record_cpu_errors():
    """Adds this CPU kind's PyTorch float32 error to every committed case (nothing else changes)."""
    global OUT
    with open(os.path.join(COMMITTED, "manifest.json")) as f:
        manifest = json.load(f)
    OUT = tempfile.mkdtemp(prefix="nn-cpu-errors-")
    try:
        build_all()
        fresh = {c["name"]: c for c in cases}
        for c in manifest["cases"]:
            if c["exact"]:
                continue
            n = fresh[c["name"]]
            for k, f in c["inputs"].items():   # the same case: identical inputs
                assert np.array_equal(np.load(os.path.join(COMMITTED, f)), np.load(os.path.join(OUT, n["inputs"][k]))), c["name"]
            by_cpu = previous_by_cpu(c)
            by_cpu[cpu_kind()] = cpu_errors(n, np.load(os.path.join(COMMITTED, c["expected_f64"])))
            c["torch_f32_vs_f64_by_cpu"] = dict(sorted(by_cpu.items()))
            print(f"{c['name']:28s} " + "  ".join(f"{k}: max {e['maxabs']:.3g}" for k, e in by_cpu.items()))
    finally:
        shutil.rmtree(OUT)
        OUT = COMMITTED
    manifest["tolerance_rule"] = TOLERANCE_RULE
    with open(os.path.join(COMMITTED, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


def check():
    """Regenerates into a temporary directory and compares every file with the committed one."""
    global OUT
    OUT = tempfile.mkdtemp(prefix="vqrt_nn_")
    differ = []
    try:
        generate(COMMITTED)
        for f in sorted(set(os.listdir(OUT)) | set(os.listdir(COMMITTED))):
            a, b = os.path.join(COMMITTED, f), os.path.join(OUT, f)
            if os.path.exists(a) and os.path.exists(b) and filecmp.cmp(a, b, shallow=False):
                continue
            note = "missing on one side"
            if f.endswith(".npy") and os.path.exists(a) and os.path.exists(b):
                x, y = np.load(a), np.load(b)
                note = f"shape {x.shape} vs {y.shape}" if x.shape != y.shape else \
                    f"max |difference| {np.abs(x.astype(np.float64) - y.astype(np.float64)).max():.3g}"
            differ.append(f"{f} ({note})")
    finally:
        shutil.rmtree(OUT)
        OUT = COMMITTED
    for line in differ:
        print("DIFFERENT:", line)
    print("Fixtures/nn: " + ("identical" if not differ else f"{len(differ)} files differ"))
    return 1 if differ else 0


def main():
    if "--record-cpu-errors" in sys.argv[1:]:
        record_cpu_errors()
    elif "--check" in sys.argv[1:]:
        sys.exit(check())
    else:
        # Keep the committed manifest and arrays (what other CPU kinds recorded) until the new ones are written.
        keep = tempfile.mkdtemp(prefix="vqrt_nn_previous_")
        try:
            shutil.copytree(COMMITTED, os.path.join(keep, "nn"))
            generate(os.path.join(keep, "nn"))
        finally:
            shutil.rmtree(keep)


if __name__ == "__main__":
    main()
