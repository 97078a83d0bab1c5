#!/usr/bin/env python3
"""Fixtures for the paper metrics (the metrics issue): SSIM, LPIPS, KID, torch-fidelity's Inception protocol and FID,
codebook entropy, numpy's RandomState. Deterministic; CPU only.

Command line (from the package root; a few minutes on 2 busy cores):
    nice .venv-tools/bin/python tools/make_metric_fixtures.py                 # everything into Fixtures/paper_metrics/
    nice .venv-tools/bin/python tools/make_metric_fixtures.py --only ssim     # one part: rng kid ssim lpips fidelity entropy

Needs, in .venv-tools: torch, torchvision, numpy, scikit-image, torchmetrics, pytorch-msssim, lpips (0.1.4, its
v0.1 weights), torch-fidelity (0.4.0), pytorch-fid 0.3.0 (tools/make_inception_fixtures.py's weights helpers).

Every reference is the package itself, called as a user calls it:
  rng.json       numpy `RandomState(2020)`: raw MT19937 outputs, `permutation`, `choice(n, m, replace=False)`.
  kid.json       torch-fidelity `kid_features_to_metric` on "fid-features v1" sets (float32, as torch-fidelity hands
                 its features over) and on the same features in float64 (torch-fidelity's own float32 error).
  images/        image pairs (crops of scikit-image's bundled photos and synthetic ones, each with a distorted copy).
  ssim.json      per pair: torchmetrics `structural_similarity_index_measure(data_range=1.0)` and with its default
                 data_range=None, pytorch_msssim `ssim(data_range=1)`, skimage `structural_similarity(channel_axis=-1,
                 data_range=255)` on uint8, and LlamaGen's call (float32 [0,1] images, data_range=2.0); float64 and
                 float32 runs of each.
  lpips.json     lpips `LPIPS(net, version='0.1')` with the package's own lin weights and a synthetic backbone
                 ("lpips-backbone v1": torchvision's layout, every tensor C4 (vqrt-rng v1, seed 5), 4-d weights times
                 float32(sqrt(2))), float32 and float64 runs, for alex, vgg and squeeze.
  fidelity.json  torch-fidelity `FeatureExtractorInceptionV3` ("2048") with inception-fixture v1 weights (seed 1; see
                 make_inception_fixtures.py) on Fixtures/inception/images and images/, batch 1; FNV-1a 64 of its
                 `interpolate_bilinear_2d_like_tensorflow1x` output bytes for each image (bit-exactness of the
                 resize); torch-fidelity's FID (`fid_features_to_statistics` / `fid_statistics_to_metric`) on
                 float32 "fid-features v1" sets.
  pool3_fidelity.npy  the features above (float32 [n, 2048]).
  entropy.json   1d-tokenizer's `CodebookEntropy` formula on synthetic code counts.
"""
import argparse
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import vqrt_rng  # noqa: E402
import make_inception_fixtures as mif  # noqa: E402

OUT = os.path.join(ROOT, "Fixtures", "paper_metrics")
IMAGES = os.path.join(OUT, "images")


def dump(name, doc):
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")


def versions():
    import importlib.metadata as md
    out = {}
    for p in ["torch", "torchvision", "numpy", "scikit-image", "torchmetrics", "pytorch-msssim", "lpips",
              "torch-fidelity", "scipy"]:
        try:
            out[p] = md.version(p)
        except md.PackageNotFoundError:
            out[p] = None
    out["torch_cpu_capability"] = mif.cpu_capability()
    return out


# ---------------------------------------------------------------------------------------------------------------

def make_rng():
    r = np.random.RandomState(2020)
    # A full 32-bit range makes randint return the generator's raw words (random_bounded_uint32_fill, rng 0xffffffff).
    raw = [int(v) for v in r.randint(0, 2**32, size=700, dtype=np.uint32)]
    r = np.random.RandomState(2020)
    perm = r.permutation(10).tolist()
    r = np.random.RandomState(2020)
    draws = []
    for n, m in [(50000, 1000), (1000, 1000), (7, 3), (1, 1), (5000, 100)]:
        idx = r.choice(n, m, replace=False)
        draws.append({"n": n, "m": m, "first": idx[:20].tolist(), "sum": int(idx.sum()),
                      "weighted": int((idx.astype(np.int64) * np.arange(1, m + 1)).sum() % (1 << 61))})
    r = np.random.RandomState(123456789)
    big = r.permutation(3).tolist()
    r = np.random.RandomState(0)
    state = r.get_state()
    dump("rng.json", {"seed_2020_raw_uint32": raw[:8] + raw[620:630], "seed_2020_permutation_10": perm, "seed_2020_choices": draws,
                      "seed_123456789_permutation_3": big, "seed_0_key_first": [int(v) for v in state[1][:4]],
                      "seed_0_key_last": int(state[1][-1]), "numpy": np.__version__})


# ---------------------------------------------------------------------------------------------------------------

KID_CASES = [  # name, set a (n, shift), set b (n, shift), dim, subsets, subset_size (as given to torch-fidelity)
    ("big", ("A", 1500, 0.10), ("B", 1300, 0.12), 2048, 10, 1000),
    ("small", ("C", 300, 0.10), ("D", 250, 0.15), 2048, 100, 250),
    ("dim64", ("E", 400, 0.10), ("F", 500, 0.40), 64, 50, 100),
]


def kid_features(name, n, shift, dim, seed=11):
    return mif.fid_features(name, n, seed, shift, dim=dim).astype(np.float32)


def make_kid():
    import torch
    from torch_fidelity.metric_kid import kid_features_to_metric, kernel_mmd
    out = {"seed": 11, "cases": [], "versions": versions()}
    for name, (na, nn_, sa), (nb, mb, sb), dim, subsets, m in KID_CASES:
        fa, fb = kid_features(na, nn_, sa, dim), kid_features(nb, mb, sb, dim)
        kw = dict(kid_subsets=subsets, kid_subset_size=m, verbose=False)
        r32 = kid_features_to_metric(torch.from_numpy(fa), torch.from_numpy(fb), **kw)
        r64 = kid_features_to_metric(torch.from_numpy(fa.astype(np.float64)), torch.from_numpy(fb.astype(np.float64)), **kw)
        # The per-subset values of the float64 run, drawn as torch-fidelity draws them.
        rng = np.random.RandomState(2020)
        mmds = []
        for _ in range(subsets):
            i1 = rng.choice(len(fa), m, replace=False)
            i2 = rng.choice(len(fb), m, replace=False)
            mmds.append(float(kernel_mmd(fa[i1].astype(np.float64), fb[i2].astype(np.float64),
                                         kid_kernel="poly", kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None,
                                         kid_kernel_poly_coef0=1)))
        assert abs(np.mean(mmds) - r64["kernel_inception_distance_mean"]) <= 1e-15 * abs(np.mean(mmds)) + 1e-300
        out["cases"].append({"name": name, "a": [na, nn_, sa], "b": [nb, mb, sb], "dim": dim, "subsets": subsets,
                             "subset_size": m,
                             "float32": [r32["kernel_inception_distance_mean"], r32["kernel_inception_distance_std"]],
                             "float64": [r64["kernel_inception_distance_mean"], r64["kernel_inception_distance_std"]],
                             "per_subset_float64": mmds[:10]})
    dump("kid.json", out)


# ---------------------------------------------------------------------------------------------------------------

def make_images():
    """Pairs (x_ref.png, x_dist.png): photo crops and synthetic images with distortions a tokenizer might make."""
    import skimage.data as sd
    from PIL import Image, ImageFilter
    os.makedirs(IMAGES, exist_ok=True)
    rng = np.random.default_rng(20261207)
    pairs = []

    def save_pair(name, ref, dist):
        Image.fromarray(ref).save(os.path.join(IMAGES, f"{name}_ref.png"))
        Image.fromarray(dist).save(os.path.join(IMAGES, f"{name}_dist.png"))
        pairs.append(name)

    def noisy(a, sigma):
        return np.clip(a.astype(np.float64) + rng.normal(0, sigma, a.shape), 0, 255).round().astype(np.uint8)

    def jpeg(a, q):
        import io
        b = io.BytesIO()
        Image.fromarray(a).save(b, format="JPEG", quality=q)
        return np.array(Image.open(b).convert("RGB"))

    astro = sd.astronaut()[40:200, 150:310]                  # 160x160
    save_pair("astronaut_jpeg", astro, jpeg(astro, 20))
    coffee = sd.coffee()[100:228, 200:392]                    # 128x192
    save_pair("coffee_blur", coffee, np.array(Image.fromarray(coffee).filter(ImageFilter.GaussianBlur(1.5))))
    chelsea = sd.chelsea()[50:146, 120:248]                   # 96x128
    save_pair("chelsea_noise", chelsea, noisy(chelsea, 12))
    rocket = sd.rocket()[100:164, 250:314]                    # 64x64
    save_pair("rocket_shift", rocket, np.roll(rocket, (1, 2), axis=(0, 1)))
    y, x = np.mgrid[0:48, 0:80]
    grad = np.stack([x * 3, y * 5, (x + y) * 2], -1).astype(np.uint8)
    save_pair("gradient_quant", grad, ((grad // 32) * 32 + 16).astype(np.uint8))
    flat = np.full((32, 40, 3), 77, np.uint8)
    save_pair("flat_noise", flat, noisy(flat, 3))
    return pairs


def load_pair(name):
    from PIL import Image
    a = np.array(Image.open(os.path.join(IMAGES, f"{name}_ref.png")).convert("RGB"))
    b = np.array(Image.open(os.path.join(IMAGES, f"{name}_dist.png")).convert("RGB"))
    return a, b


def make_ssim(pairs):
    import torch
    from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim
    from pytorch_msssim import ssim as ms_ssim
    from skimage.metrics import structural_similarity
    out = {"pairs": [], "versions": versions()}
    for name in pairs:
        a, b = load_pair(name)
        rec = {"name": name, "size": [a.shape[1], a.shape[0]]}
        for dtype, tag in [(torch.float64, "float64"), (torch.float32, "float32")]:
            # [0, 1] tensors as to_tensor makes them (v / 255 in the dtype).
            ta = torch.from_numpy(a).permute(2, 0, 1)[None].to(dtype) / 255
            tb = torch.from_numpy(b).permute(2, 0, 1)[None].to(dtype) / 255
            rec[f"torchmetrics_{tag}"] = float(tm_ssim(tb, ta, data_range=1.0))
            rec[f"torchmetrics_default_range_{tag}"] = float(tm_ssim(tb, ta))
            rec[f"pytorch_msssim_{tag}"] = float(ms_ssim(tb, ta, data_range=1, size_average=True))
        rec["skimage_uint8"] = float(structural_similarity(b, a, channel_axis=-1, data_range=255))
        for np_dtype, tag in [(np.float64, "float64"), (np.float32, "float32")]:
            fa = a.astype(np_dtype) / np_dtype(255)
            fb = b.astype(np_dtype) / np_dtype(255)
            rec[f"skimage_llamagen_{tag}"] = float(structural_similarity(fb, fa, channel_axis=-1, data_range=2.0))
        out["pairs"].append(rec)
    dump("ssim.json", out)


# ---------------------------------------------------------------------------------------------------------------

LPIPS_SEED = 5


def synthetic_backbone(net):
    """lpips-backbone v1: torchvision's model for `net` with C4 values (seed 5), 4-d weights times float32(sqrt 2)."""
    import torch
    import torchvision.models as tv
    model = {"alex": tv.alexnet, "vgg": tv.vgg16, "squeeze": tv.squeezenet1_1}[net](weights=None)
    gain = np.float32(np.sqrt(2.0))
    sd = {}
    for k, v in model.state_dict().items():
        if not k.startswith("features."):
            continue
        x = vqrt_rng.values(k, tuple(v.shape), LPIPS_SEED)
        if x.ndim == 4:
            x = (x * gain).astype(np.float32)
        sd[k] = torch.from_numpy(np.ascontiguousarray(x))
    return sd


def lpips_model(net, backbone):
    import lpips
    m = lpips.LPIPS(net=net, version="0.1", pretrained=True, pnet_rand=True, verbose=False).eval()
    # lpips' slices hold torchvision's feature modules under their original index: net.sliceK.<i>.* = features.<i>.*
    sd = m.state_dict()
    for k in list(sd):
        if k.startswith("net.slice"):
            sd[k] = backbone["features." + k.split(".", 2)[2]]
    m.load_state_dict(sd)
    return m


def make_lpips(pairs):
    import torch
    import lpips
    torch.set_num_threads(1)
    out = {"seed": LPIPS_SEED, "pairs": pairs, "nets": {}, "versions": versions()}
    for net in ["alex", "vgg", "squeeze"]:
        m = lpips_model(net, synthetic_backbone(net))
        vals32, vals64 = [], []
        with torch.no_grad():
            m64 = lpips_model(net, synthetic_backbone(net)).double()
            for name in pairs:
                a, b = load_pair(name)
                ta, tb = lpips.im2tensor(a), lpips.im2tensor(b)
                vals32.append(float(m(ta, tb).item()))
                vals64.append(float(m64(ta.double(), tb.double()).item()))
        layout = [[k, list(v.shape)] for k, v in synthetic_backbone(net).items()]
        out["nets"][net] = {"float32": vals32, "float64": vals64, "features_layout": layout}
    dump("lpips.json", out)


# ---------------------------------------------------------------------------------------------------------------

def fnv1a64(data):
    h = 0xcbf29ce484222325
    for byte in data:
        h ^= byte
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def make_fidelity(pairs):
    import tempfile
    import torch
    from PIL import Image
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
    torch.set_num_threads(2)
    inception_dir = os.path.join(ROOT, "Fixtures", "inception", "images")
    files = [os.path.join(inception_dir, f) for f in sorted(os.listdir(inception_dir))]
    files += [os.path.join(IMAGES, f"{p}_ref.png") for p in pairs]
    # Named as the test finds them, also when --out writes the set elsewhere (tools/check_fixtures.py).
    rel = [os.path.join("Fixtures", "paper_metrics", "images", os.path.basename(f)) if f.startswith(IMAGES)
           else os.path.relpath(f, ROOT) for f in files]
    with tempfile.TemporaryDirectory() as tmp:
        wpath = os.path.join(tmp, "weights-inception-2015-12-05-6726825d.pth")
        sd = mif.fixture_state_dict(1)
        torch.save(dict(sd), wpath)  # torch-fidelity's own layout: a plain dict of the 472 tensors
        fe = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=wpath).eval()
    feats, hashes, sizes = [], [], []
    with torch.no_grad():
        for f in files:
            # torch-fidelity's ImagesPathDataset + TransformPILtoRGBTensor: PIL RGB -> uint8 CHW.
            x = torch.from_numpy(np.array(Image.open(f).convert("RGB"))).permute(2, 0, 1)[None].contiguous()
            feats.append(fe(x)[0].numpy())
            r = interpolate_bilinear_2d_like_tensorflow1x(x.to(torch.float32), size=(299, 299), align_corners=False)
            hashes.append(fnv1a64(r.contiguous().numpy().astype("<f4").tobytes()))
            sizes.append([x.shape[3], x.shape[2]])
    pool3 = np.concatenate(feats).astype(np.float32)
    np.save(os.path.join(OUT, "pool3_fidelity.npy"), pool3)
    # Resizes of other sizes (up, down, identity, 1-pixel) on a deterministic uint8 pattern.
    extra = []
    for h, w, oh, ow in [(7, 5, 299, 299), (299, 299, 299, 299), (1, 1, 3, 4), (480, 360, 299, 299), (50, 70, 13, 17)]:
        v = ((np.arange(h * w * 3, dtype=np.int64) * 2654435761) >> 7) % 256
        x = torch.from_numpy(v.reshape(1, 3, h, w).astype(np.float32))
        r = interpolate_bilinear_2d_like_tensorflow1x(x, size=(oh, ow), align_corners=False)
        extra.append({"in": [h, w], "out": [oh, ow], "fnv1a64": str(fnv1a64(r.contiguous().numpy().astype("<f4").tobytes()))})
    # torch-fidelity's FID on full-rank synthetic feature sets (float32, as its extractor returns them).
    fid_cases = []
    for (na, sa_n, sa), (nb, sb_n, sb) in [(("A", 2500, 0.10), ("B", 2600, 0.12)), (("A", 2500, 0.10), ("G", 2200, 0.30))]:
        fa = mif.fid_features(na, sa_n, 7, sa).astype(np.float32)
        fb = mif.fid_features(nb, sb_n, 7, sb).astype(np.float32)
        s1 = fid_features_to_statistics(torch.from_numpy(fa))
        s2 = fid_features_to_statistics(torch.from_numpy(fb))
        fid = fid_statistics_to_metric(s1, s2, verbose=False)["frechet_inception_distance"]
        s1d = fid_features_to_statistics(torch.from_numpy(fa.astype(np.float64)))
        s2d = fid_features_to_statistics(torch.from_numpy(fb.astype(np.float64)))
        fid64 = fid_statistics_to_metric(s1d, s2d, verbose=False)["frechet_inception_distance"]
        fid_cases.append({"a": [na, sa_n, sa], "b": [nb, sb_n, sb], "seed": 7, "fid": fid, "fid_float64_mean": fid64})
    dump("fidelity.json", {"files": rel, "sizes": sizes, "resize_fnv1a64": [str(h) for h in hashes],
                           "resize_extra": extra, "weights_seed": 1, "fid": fid_cases, "versions": versions()})


# ---------------------------------------------------------------------------------------------------------------

def make_entropy():
    import torch
    cases = []
    for name, k, n in [("skewed", 1024, 50000), ("sparse", 4096, 300), ("one", 16, 10)]:
        r = vqrt_rng.raw_u64(f"entropy.{name}", 3, n)
        # Skewed code indices: the square of a uniform draw, scaled to the codebook.
        u = (r >> np.uint64(40)).astype(np.float64) / 2**24
        codes = np.minimum((u * u * k).astype(np.int64), k - 1) if name != "one" else np.full(n, 5, np.int64)
        freq = torch.zeros(k, dtype=torch.float64)
        entries, counts = torch.unique(torch.from_numpy(codes), sorted=False, return_counts=True)
        freq.index_add_(0, entries.int(), counts.double())
        probs = freq / freq.sum()
        entropy = float((-torch.log2(probs + 1e-8) * probs).sum())
        cases.append({"name": name, "codebook": k, "n": n, "entropy_bits": entropy,
                      "counts_fnv": str(fnv1a64(np.bincount(codes, minlength=k).astype("<i8").tobytes()))})
    dump("entropy.json", {"cases": cases, "rule": "codes: min(floor(u*u*K), K-1), u = (raw_u64(entropy.<name>, 3) >> 40) / 2^24"})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["rng", "kid", "ssim", "lpips", "fidelity", "entropy"])
    ap.add_argument("--out", help="write the set here instead of Fixtures/paper_metrics (tools/check_fixtures.py)")
    args = ap.parse_args()
    if args.out:
        global OUT, IMAGES
        OUT, IMAGES = args.out, os.path.join(args.out, "images")
    os.makedirs(OUT, exist_ok=True)
    import torch
    torch.set_num_threads(2)
    pairs = ["astronaut_jpeg", "coffee_blur", "chelsea_noise", "rocket_shift", "gradient_quant", "flat_noise"]
    todo = [args.only] if args.only else ["rng", "entropy", "kid", "ssim", "lpips", "fidelity"]
    if any(t in todo for t in ["ssim", "lpips", "fidelity"]) and not os.path.exists(os.path.join(IMAGES, "flat_noise_dist.png")):
        assert make_images() == pairs
    for t in todo:
        print("making", t, flush=True)
        {"rng": make_rng, "kid": make_kid, "entropy": make_entropy, "ssim": lambda: make_ssim(pairs),
         "lpips": lambda: make_lpips(pairs), "fidelity": lambda: make_fidelity(pairs)}[t]()


if __name__ == "__main__":
    main()
