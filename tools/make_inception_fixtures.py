#!/usr/bin/env python3
"""Fixtures for the FID Inception-v3 port and the metrics (FID, IS, reconstruction statistics). Deterministic.

Command line (from the package root; CPU only, 2 threads, a few minutes):
    nice .venv-tools/bin/python tools/make_inception_fixtures.py                  # Fixtures/inception + metrics
    nice .venv-tools/bin/python tools/make_inception_fixtures.py --only inception # Fixtures/inception/
    nice .venv-tools/bin/python tools/make_inception_fixtures.py --only metrics   # Fixtures/metrics/

Needs torch, torchvision, numpy, scipy, Pillow, scikit-image, pytorch-fid==0.3.0 and
pytorch-image-generation-metrics==0.6.1 (PyPI; `pip install --no-deps`) in .venv-tools.

Weights: the released `pt_inception-2015-12-05-6726825d.pth` cannot be downloaded here, so the references use
"inception-fixture v1" weights: the exact 472 keys and shapes of the released file, every value drawn by contract C4
(vqrt-rng v1, tools/vqrt_rng.py) for the given seed, and every 4-d convolution weight then multiplied by
float32(sqrt(2)) (He gain: with C4's variance 1/fan_in alone the signal halves its power at each ReLU and the
pool3 features hardly depend on the image). BatchNorm statistics are C4's (running_var in [0.5, 1.5)). The Swift
tests build the same weights with `InceptionWeights.synthetic(seed:)`; `write_weights` saves them in the legacy
torch.save format without `num_batches_tracked`, as the 2019 release probably is.

pytorch-fid and pytorch-image-generation-metrics (PIGM) are run unmodified except that their
`load_state_dict_from_url` returns the fixture state dict instead of downloading.

Fixtures/inception/:
  keys.json                  the state-dict keys and shapes of pytorch-fid's `fid_inception_v3()` module
  images/*.png|jpg           small synthetic images (sizes below, at and above 299; L, P, RGBA modes; a JPEG)
  seed<S>/pool3.npy          float32 [N, 2048]: pytorch-fid `get_activations(files, batch_size=1)`, images sorted
  seed<S>/pool3_f64.npy      float64 [N, 2048]: the same network in float64 on the same float32 299x299 input
  seed<S>/logits.npy         float32 [N, 1008]: pool3 @ fc.weight.T (PIGM's fc without bias)
  seed<S>/probs.npy          float32 [N, 1008]: PIGM `InceptionV3([4])` softmax output
  manifest.json              files in order, seeds, versions, torch CPU capability, torch f32 vs f64 errors
Fixtures/metrics/:
  fid.json   FID of synthetic feature sets ("fid-features v1" below) by pytorch-fid's calculate_frechet_distance
  is.json    IS of synthetic logits ("is-logits v1") by PIGM's calculate_inception_score (numpy path)
  recon.json codebook usage (rotation_trick `log_codebook_usage` loop), perplexity, PSNR (scikit-image), MSE,
             quantisation error of synthetic data ("recon v1")
  small_stats.npz  a pytorch-fid format statistics file (np.savez_compressed) of 64-d features, with its FID
             against a second one in fid.json.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import vqrt_rng  # noqa: E402

OUT_INCEPTION = os.path.join(ROOT, "Fixtures", "inception")
OUT_METRICS = os.path.join(ROOT, "Fixtures", "metrics")
SEEDS = [1, 2]


# ---------------------------------------------------------------------------------------------------------------
# Inception fixture weights and the patched reference implementations (also used by conformance/bench scripts)

def inception_keys():
    """(name, shape) of the FID Inception state dict without num_batches_tracked: the 472 tensors of the file."""
    import pytorch_fid.inception as pfi
    m = pfi._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    m.Mixed_5b = pfi.FIDInceptionA(192, pool_features=32)
    m.Mixed_5c = pfi.FIDInceptionA(256, pool_features=64)
    m.Mixed_5d = pfi.FIDInceptionA(288, pool_features=64)
    m.Mixed_6b = pfi.FIDInceptionC(768, channels_7x7=128)
    m.Mixed_6c = pfi.FIDInceptionC(768, channels_7x7=160)
    m.Mixed_6d = pfi.FIDInceptionC(768, channels_7x7=160)
    m.Mixed_6e = pfi.FIDInceptionC(768, channels_7x7=192)
    m.Mixed_7b = pfi.FIDInceptionE_1(1280)
    m.Mixed_7c = pfi.FIDInceptionE_2(2048)
    return [(k, tuple(v.shape)) for k, v in m.state_dict().items() if not k.endswith("num_batches_tracked")]


def fixture_state_dict(seed):
    """inception-fixture v1 weights for `seed` (see the module docstring)."""
    import collections
    import torch
    gain = np.float32(np.sqrt(2.0))
    sd = collections.OrderedDict()
    for name, shape in inception_keys():
        v = vqrt_rng.values(name, shape, seed)
        if len(shape) == 4:
            v = (v * gain).astype(np.float32)
        sd[name] = torch.from_numpy(np.ascontiguousarray(v))
    return sd


def write_weights(path, seed):
    """The fixture weights as a legacy-format torch.save file (like the 2019 release)."""
    import torch
    torch.save(fixture_state_dict(seed), path, _use_new_zipfile_serialization=False)


def patch_weight_loading(state_dict):
    """Make pytorch-fid and PIGM load `state_dict` instead of downloading the released file."""
    import pytorch_fid.inception as pfi
    import pytorch_image_generation_metrics.inception as pigm_inception
    pfi.load_state_dict_from_url = lambda *a, **k: state_dict
    pigm_inception.load_state_dict_from_url = lambda *a, **k: state_dict


def cpu_capability():
    import torch
    try:
        return torch.backends.cpu.get_cpu_capability()
    except Exception:  # older torch
        return "unknown"


def versions():
    import PIL
    import scipy
    import torch
    import torchvision
    import pytorch_fid
    import pytorch_image_generation_metrics as pigm
    return {"torch": torch.__version__, "torchvision": torchvision.__version__, "numpy": np.__version__,
            "scipy": scipy.__version__, "pillow": PIL.__version__, "pytorch_fid": pytorch_fid.__version__,
            "pytorch_image_generation_metrics": getattr(pigm, "__version__", "0.6.1"),
            "torch_cpu_capability": cpu_capability(), "torch_threads": torch.get_num_threads()}


# ---------------------------------------------------------------------------------------------------------------
# Fixtures/inception

def make_images(directory):
    """Small deterministic images: every decode/resize path the pipeline has (identity at 299, up- and
    downsampling, non-square, L / P / RGBA modes, JPEG)."""
    from PIL import Image
    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(20240611)
    files = []

    def save(name, img, **kw):
        img.save(os.path.join(directory, name), **kw)
        files.append(name)

    save("a_noise_64.png", Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)))
    y, x = np.mgrid[0:256, 0:256].astype(np.float64)
    grad = np.stack([x, y, 255 * (0.5 + 0.5 * np.sin(x / 23.0 + y / 31.0))], -1)
    save("b_gradient_256.png", Image.fromarray(np.clip(grad, 0, 255).astype(np.uint8)))
    save("c_solid_299.png", Image.new("RGB", (299, 299), (200, 40, 90)))
    y, x = np.mgrid[0:300, 0:333]
    checker = (((x // 8) + (y // 8)) % 2).astype(np.uint8)
    colours = np.array([[20, 120, 220], [240, 200, 10]], dtype=np.uint8)
    save("d_checker_333x300.png", Image.fromarray(colours[checker]))
    blocks = rng.integers(0, 256, (10, 13), dtype=np.uint8).repeat(8, 0).repeat(8, 1)[:80, :100]
    save("e_gray_100x80.png", Image.fromarray(blocks, mode="L"))
    rgba = rng.integers(0, 256, (120, 120, 4), dtype=np.uint8)
    rgba[..., :3] = (rgba[..., :3] // 64) * 64
    save("f_rgba_120.png", Image.fromarray(rgba, mode="RGBA"))
    y, x = np.mgrid[0:360, 0:480].astype(np.float64)
    scene = np.stack([128 + 100 * np.sin(x / 40.0), 128 + 100 * np.cos(y / 25.0), (x + y) / 840.0 * 255], -1)
    scene += rng.normal(0, 6, scene.shape)
    save("g_scene_480x360.jpg", Image.fromarray(np.clip(scene, 0, 255).astype(np.uint8)), quality=90)
    y, x = np.mgrid[0:512, 0:512]
    stripes = np.stack([((x // 3) % 2) * 255, ((y // 5) % 2) * 200, ((x + y) // 7 % 2) * 150], -1)
    save("h_stripes_512.png", Image.fromarray(stripes.astype(np.uint8)))
    pal = Image.fromarray(rng.integers(0, 6, (90, 90), dtype=np.uint8).repeat(1, 0), mode="P")
    pal.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 0, 90, 90, 90] + [0] * (768 - 18))
    save("i_palette_90.png", pal)
    return sorted(files)


def reference_outputs(paths, seed):
    """pool3 (pytorch-fid), float64 pool3, logits and PIGM probabilities for the images at `paths`."""
    import torch
    import torch.nn.functional as F
    import pytorch_fid.inception as pfi
    from pytorch_fid.fid_score import get_activations
    import pytorch_image_generation_metrics.inception as pigm_inception
    from PIL import Image
    from torchvision.transforms.functional import to_tensor

    sd = fixture_state_dict(seed)
    patch_weight_loading(sd)
    model = pfi.InceptionV3([3]).eval()
    # batch_size=1: the images differ in size, and the default collate cannot stack them.
    pool3 = get_activations(paths, model, batch_size=1, dims=2048, device="cpu", num_workers=0).astype(np.float32)

    # The same network without its resize/normalise, fed the float32 299x299 input pytorch-fid makes, in f32 and f64.
    bare = pfi.InceptionV3([3], resize_input=False, normalize_input=False).eval()
    xs = []
    for p in paths:
        x = to_tensor(Image.open(p).convert("RGB"))[None]
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        xs.append(2 * x - 1)
    with torch.no_grad():
        again = np.concatenate([bare(x)[0].reshape(1, -1).numpy() for x in xs])
        assert np.array_equal(again, pool3), "pytorch-fid's forward does not match its own parts"
        bare64 = bare.double()
        pool3_64 = np.concatenate([bare64(x.double())[0].reshape(1, -1).numpy() for x in xs])
        logits = F.linear(torch.from_numpy(pool3), sd["fc.weight"]).numpy()
        pigm = pigm_inception.InceptionV3([4]).eval()
        probs = np.concatenate([pigm(to_tensor(Image.open(p).convert("RGB"))[None])[0].numpy() for p in paths])
    return pool3, pool3_64, logits.astype(np.float32), probs.astype(np.float32)


def make_inception():
    import torch
    torch.set_num_threads(2)   # ATen's resize kernel choice depends on it being > 1 (see Imaging/Interpolate.swift)
    os.makedirs(OUT_INCEPTION, exist_ok=True)
    keys = inception_keys()
    with open(os.path.join(OUT_INCEPTION, "keys.json"), "w") as f:
        json.dump([{"name": k, "shape": list(s)} for k, s in keys], f, indent=0)
    image_dir = os.path.join(OUT_INCEPTION, "images")
    files = make_images(image_dir)
    paths = [os.path.join(image_dir, f) for f in files]
    manifest = {"generator": "tools/make_inception_fixtures.py", "weights": "inception-fixture v1",
                "files": files, "seeds": {}, "versions": versions()}
    for seed in SEEDS:
        t = time.time()
        pool3, pool3_64, logits, probs = reference_outputs(paths, seed)
        d = os.path.join(OUT_INCEPTION, f"seed{seed}")
        os.makedirs(d, exist_ok=True)
        np.save(os.path.join(d, "pool3.npy"), pool3)
        np.save(os.path.join(d, "pool3_f64.npy"), pool3_64)
        np.save(os.path.join(d, "logits.npy"), logits)
        np.save(os.path.join(d, "probs.npy"), probs)
        err = np.abs(pool3.astype(np.float64) - pool3_64)
        scale = np.abs(pool3_64).max(axis=1, keepdims=True)
        manifest["seeds"][str(seed)] = {
            "torch_f32_vs_f64_max_abs": float(err.max()),
            "torch_f32_vs_f64_max_rel_to_row_max": float((err / scale).max()),
            "pool3_mean": float(pool3_64.mean()), "pool3_spread_across_images":
                float(pool3_64.std(0).mean() / np.sqrt((pool3_64 ** 2).mean()))}
        # The time taken is printed, not recorded: the manifest must regenerate byte for byte.
        print(f"seed {seed}: {manifest['seeds'][str(seed)]}, {time.time() - t:.1f} s")
    with open(os.path.join(OUT_INCEPTION, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


# ---------------------------------------------------------------------------------------------------------------
# Fixtures/metrics: synthetic inputs that Swift regenerates bit for bit from C4 draws

def c4(name, shape, seed):
    return vqrt_rng.values(name, shape, seed)


def fid_features(set_name, n, seed, shift, dim=2048, rank=64):
    """fid-features v1: float64 [n, dim] = max(0, 8 * (Z @ M) + 4 * E + shift), with Z = C4("fid.<set>.z", [n, rank]),
    M = C4("fid.mix.<dim>", [rank, dim]), E = C4("fid.<set>.noise", [n, dim]) (float32 draws widened to float64):
    correlated, partly clipped at zero like post-ReLU averages."""
    z = c4(f"fid.{set_name}.z", (n, rank), seed).astype(np.float64)
    m = c4(f"fid.mix.{dim}", (rank, dim), seed).astype(np.float64)
    e = c4(f"fid.{set_name}.noise", (n, dim), seed).astype(np.float64)
    return np.maximum(0.0, (z @ m) * 8.0 + e * 4.0 + shift)


FID_SETS = {  # name: (n, shift)
    "A": (2500, 0.10), "B": (2600, 0.12), "C": (1000, 0.10), "D": (300, 0.15)}
FID_PAIRS = [("A", "B"), ("A", "C"), ("C", "D"), ("A", "A"), ("B", "A")]
IS_SETS = {  # name: (n, scale)
    "big": (2500, 60.0), "odd": (1003, 40.0), "tiny": (30, 80.0)}


def is_logits(set_name, n, seed, scale):
    """is-logits v1: float32 [n, 1008] = C4("is.<set>.logits", [n, 1008]) * float32(scale)."""
    return (c4(f"is.{set_name}.logits", (n, 1008), seed) * np.float32(scale)).astype(np.float32)


def make_metrics(seed=7):
    import torch
    from pytorch_fid.fid_score import calculate_frechet_distance
    from pytorch_image_generation_metrics.core import calculate_inception_score
    import scipy
    os.makedirs(OUT_METRICS, exist_ok=True)

    # FID
    stats = {}
    for name, (n, shift) in FID_SETS.items():
        f = fid_features(name, n, seed, shift)
        stats[name] = (np.mean(f, axis=0), np.cov(f, rowvar=False))
    fid = {"recipe": "fid-features v1", "seed": seed, "dim": 2048, "rank": 64, "sets": {}, "pairs": [],
           "scipy": scipy.__version__, "numpy": np.__version__}
    for name, (n, shift) in FID_SETS.items():
        mu, sigma = stats[name]
        fid["sets"][name] = {"n": n, "shift": shift, "mu_sum": float(mu.sum()), "sigma_trace": float(np.trace(sigma)),
                             "sigma_sum": float(sigma.sum())}
    for a, b in FID_PAIRS:
        t = time.time()
        value = float(calculate_frechet_distance(stats[a][0], stats[a][1], stats[b][0], stats[b][1]))
        fid["pairs"].append({"a": a, "b": b, "fid": value})   # (no time taken: it must regenerate byte for byte)
        print(f"FID {a}-{b}: {value} ({time.time() - t:.2f} s)")
        print(f"FID {a}-{b}: {value!r}")
    # a small pytorch-fid format stats file (64-d), and the FID to a second 64-d set
    s1 = fid_features("S1", 500, seed, 0.1, dim=64, rank=8)
    s2 = fid_features("S2", 400, seed, 0.2, dim=64, rank=8)
    m1, c1 = np.mean(s1, axis=0), np.cov(s1, rowvar=False)
    m2, c2 = np.mean(s2, axis=0), np.cov(s2, rowvar=False)
    np.savez_compressed(os.path.join(OUT_METRICS, "small_stats.npz"), mu=m1, sigma=c1)
    fid["small"] = {"file": "small_stats.npz", "a": {"set": "S1", "n": 500, "shift": 0.1},
                    "b": {"set": "S2", "n": 400, "shift": 0.2}, "dim": 64, "rank": 8,
                    "fid": float(calculate_frechet_distance(m1, c1, m2, c2))}
    with open(os.path.join(OUT_METRICS, "fid.json"), "w") as f:
        json.dump(fid, f, indent=1)

    # IS: float32 softmax as PIGM does it on its device, then its numpy score
    out = {"recipe": "is-logits v1", "seed": seed, "cases": []}
    for name, (n, scale) in IS_SETS.items():
        logits = is_logits(name, n, seed, scale)
        probs = torch.softmax(torch.from_numpy(logits), dim=1).numpy().astype(np.float64)
        for splits in (10, 3):
            mean, std = calculate_inception_score(probs, splits, use_torch=False)
            out["cases"].append({"set": name, "n": n, "scale": scale, "splits": splits, "is_mean": mean, "is_std": std})
            print(f"IS {name}/{splits}: {mean!r} ± {std!r}")
    with open(os.path.join(OUT_METRICS, "is.json"), "w") as f:
        json.dump(out, f, indent=1)

    with open(os.path.join(OUT_METRICS, "recon.json"), "w") as f:
        json.dump(recon_reference(seed), f, indent=1)


def synthetic_codes(set_name, n, positions, seed, codes):
    """recon v1 codes: int64 [n, positions], c = (u * u) // codes with u = (raw >> 40) % codes, raw the C4 SplitMix64
    stream of "codes.<set>" (a skewed distribution: small indices are used more often)."""
    raw = vqrt_rng.raw_u64(f"codes.{set_name}", seed, n * positions)
    u = ((raw >> np.uint64(40)) % np.uint64(codes)).astype(np.int64)
    return ((u * u) // codes).reshape(n, positions)


def rotation_trick_usage(codes, num_codes, batch_size):
    """rotation_trick `log_codebook_usage`: codes arrive per batch; every 256 // batch_size batches, the share of
    distinct codes among them is recorded (a trailing incomplete window is dropped); the mean is reported."""
    import torch
    n_accumulate = 256 // batch_size
    acc, count, usage = [], 0, []
    for start in range(0, codes.shape[0], batch_size):
        acc.append(torch.from_numpy(codes[start:start + batch_size]))
        count += 1
        if count == n_accumulate:
            usage.append(torch.unique(torch.cat(acc, 0)).shape[0] / num_codes)
            acc, count = [], 0
    return sum(usage) / len(usage), len(usage)


def recon_reference(seed):
    from skimage.metrics import peak_signal_noise_ratio
    out = {"recipe": "recon v1", "seed": seed}
    # codebook usage and perplexity
    num_codes, positions = 1024, 16
    codes = synthetic_codes("run", 1000, positions, seed, num_codes)
    usage = {}
    for bs in (32, 64, 48, 256):
        mean, windows = rotation_trick_usage(codes, num_codes, bs)
        usage[str(bs)] = {"window_images": (256 // bs) * bs, "usage": mean, "windows": windows}
    counts = np.bincount(codes.reshape(-1), minlength=num_codes).astype(np.float64)
    p = counts / counts.sum()
    nz = p[p > 0]
    out["codebook"] = {"set": "run", "n": 1000, "positions": positions, "num_codes": num_codes,
                       "windowed": usage, "used_total": int((counts > 0).sum()),
                       "usage_total": float((counts > 0).sum() / num_codes),
                       "perplexity": float(np.exp(-(nz * np.log(nz)).sum()))}
    # PSNR on 8-bit images (per image, scikit-image, then the mean) and the MSE of model-space tensors
    n, h, w = 12, 20, 24
    raw = vqrt_rng.raw_u64("psnr.orig", seed, n * h * w * 3)
    orig = (raw >> np.uint64(56)).astype(np.uint8).reshape(n, h, w, 3)
    raw2 = vqrt_rng.raw_u64("psnr.noise", seed, n * h * w * 3)
    noise = ((raw2 >> np.uint64(56)).astype(np.int64) % 21 - 10).reshape(n, h, w, 3)
    # image k gets noise amplitude scaled by (k % 4) (k % 4 == 0: identical -> infinite PSNR)
    amp = (np.arange(n) % 4).reshape(n, 1, 1, 1)
    recon = np.clip(orig.astype(np.int64) + noise * amp, 0, 255).astype(np.uint8)
    psnrs = []
    with np.errstate(divide="ignore"):
        for k in range(n):
            psnrs.append(float(peak_signal_noise_ratio(orig[k], recon[k], data_range=255)))
    finite = [v for v in psnrs if np.isfinite(v)]
    mse_pixels = float(np.mean((orig.astype(np.float64) - recon.astype(np.float64)) ** 2))
    out["psnr"] = {"n": n, "height": h, "width": w, "per_image": [v if np.isfinite(v) else None for v in psnrs],
                   "mean_finite": float(np.mean(finite)), "identical": len(psnrs) - len(finite),
                   "pooled_mse": mse_pixels, "pooled_psnr": float(10 * np.log10(255.0 ** 2 / mse_pixels))}
    x = c4("mse.x", (6, 3, 16, 16), seed).astype(np.float32)
    y = c4("mse.y", (6, 3, 16, 16), seed).astype(np.float32)
    out["mse"] = {"shape": [6, 3, 16, 16], "mse": float(np.mean((x.astype(np.float64) - y.astype(np.float64)) ** 2))}
    # quantisation error: latents [4, 8, 5, 5] (vectors along dim 1), the nearest of 32 codes (float64 argmin)
    z = c4("quant.z", (4, 8, 5, 5), seed).astype(np.float64)
    book = c4("quant.codebook", (32, 8), seed).astype(np.float64)
    vecs = z.transpose(0, 2, 3, 1).reshape(-1, 8)
    d = ((vecs[:, None, :] - book[None, :, :]) ** 2).sum(-1)
    idx = d.argmin(1)
    sq = d[np.arange(len(idx)), idx]
    out["quantization"] = {"latents": [4, 8, 5, 5], "codebook": [32, 8], "indices": idx.tolist(),
                           "mean_squared_distance": float(sq.mean()), "mse_per_element": float(sq.mean() / 8)}
    return out


def main():
    global OUT_INCEPTION, OUT_METRICS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["inception", "metrics"])
    ap.add_argument("--out", help="output directory of the part chosen with --only (default Fixtures/<part>)")
    args = ap.parse_args()
    if args.out:
        if not args.only:
            ap.error("--out needs --only")
        if args.only == "inception":
            OUT_INCEPTION = args.out
        else:
            OUT_METRICS = args.out
    if args.only in (None, "inception"):
        make_inception()
    if args.only in (None, "metrics"):
        make_metrics()


if __name__ == "__main__":
    main()
