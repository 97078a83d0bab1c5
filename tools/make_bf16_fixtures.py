#!/usr/bin/env python3
"""PyTorch's CPU autocast (bfloat16) on the demo VQGAN -> Fixtures/bf16/, for `--precision bf16`.

    nice .venv-tools/bin/python tools/make_bf16_fixtures.py                       # writes Fixtures/bf16/
    nice .venv-tools/bin/python tools/make_bf16_fixtures.py --out DIR             # elsewhere (tools/check_fixtures.py)
    nice .venv-tools/bin/python tools/make_bf16_fixtures.py --record-cpu-errors   # add this CPU kind's autocast error

Model: the bundled demo VQGAN (Fixtures/demo: latent-diffusion VQModel, trained, ldm preset at 128) through the
reference re-implementation (tools/reference/ldm_vqgan.py); inputs: its 4 held-out photos (Fixtures/demo/images,
already 128x128), mapped by the ldm preset (x/127.5 - 1).

PyTorch runs the way `--precision bf16` specifies (tools/bf16_autocast.py's "autocast" variant): the encoder (with
quant_conv) and the decoder (with post_quant_conv) under torch.autocast("cpu", dtype=torch.bfloat16), the
quantizer's distances and argmin in float32 on the float32 copy of the latents. The references are the same network
in float64: latents64 = float64 encoder output, recon64 = float64 decoding of autocast's codes. vqrt's bf16 differs
from autocast on purpose in one respect (Sources/Tensor/Precision.swift): its kernels write float32 outputs instead
of rounding every conv / linear / matmul output to bfloat16, one rounding fewer per layer.

Files: input.npy (float32 [4,3,128,128]), latents64.npy (float64 [4,4,32,32]), latents_autocast.npy (float32, the
bfloat16 values autocast returned), codes_autocast.npy (int64 [4,32,32]), boundary_distance.npy (float64
[4,32,32]: the distance of each float64 latent vector to the nearest boundary of its code's Voronoi cell, min over
the other codes k of (|z-e_k|^2 - |z-e_best|^2) / (2|e_k - e_best|): a latent moved by less keeps its code),
recon_autocast.npy (float32, autocast's decoding of its codes, bfloat16 values), recon64.npy (float64 decoding of
the same codes, rounded to float32: 6e-8 against bfloat16 errors of ~1e-2), case.json (autocast's error against
the float64 references per CPU kind: its bfloat16 kernels differ between AVX2 and AVX-512 machines, so the tests
use the entry of the kind they run on and fail without one).
"""
import argparse
import copy
import json
import os
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from bf16_autocast import load_model, run_torch  # noqa: E402
from cpu_name import cpu_kind, processor  # noqa: E402
from reference import presets  # noqa: E402

DEMO = os.path.join(ROOT, "Fixtures", "demo")
COMMITTED = os.path.join(ROOT, "Fixtures", "bf16")
IMAGES = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.png"]


def boundary_distance(z64, codebook):
    """Distance of each latent vector (rows of z64) to the nearest face of its nearest code's Voronoi cell."""
    e = codebook.astype(np.float64)
    d2 = (z64 ** 2).sum(1)[:, None] + (e ** 2).sum(1)[None, :] - 2 * z64 @ e.T
    best = d2.argmin(1)
    gap = d2 - d2[np.arange(len(best)), best][:, None]
    sep = np.linalg.norm(e[None, :, :] - e[best][:, None, :], axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        dist = np.where(sep > 0, gap / (2 * sep), np.inf)
    dist[np.arange(len(best)), best] = np.inf
    return dist.min(1), best


def errors(a, b):
    d = (np.asarray(a, np.float64) - np.asarray(b, np.float64)).reshape(-1)
    return float(np.abs(d).max()), float(np.sqrt(np.mean(d * d)))


def autocast_errors(model, x, latents64, codes, recon64):
    """This machine's autocast error against the float64 references (codes: the committed autocast codes)."""
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        lat = model.encode_to_prequant(x).float()
    with torch.no_grad():
        b, h, w = codes.shape
        quant = model.quantize.get_codebook_entry(codes.reshape(-1), (b, h, w, model.embed_dim))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            rec = model.decode(quant).float()
    lat_max, lat_rms = errors(lat.numpy(), latents64)
    rec_max, rec_rms = errors(rec.numpy(), recon64)
    return {"latents_maxabs": lat_max, "latents_rms": lat_rms, "recon_maxabs": rec_max, "recon_rms": rec_rms,
            "processor": processor(), "torch": torch.__version__}


def generate(out):
    model = load_model()
    crops = [presets.load_rgb(os.path.join(DEMO, "images", n)) for n in IMAGES]
    x = torch.from_numpy(np.stack([presets.to_input("ldm-vqgan", c) for c in crops]))
    with torch.no_grad():
        codes, recon = run_torch(model, x, "autocast")
        with torch.autocast("cpu", dtype=torch.bfloat16):
            lat_ac = model.encode_to_prequant(x).float()
        m64 = copy.deepcopy(model).double()
        lat64 = m64.encode_to_prequant(x.double())
        rec64 = m64.decode_codes(codes)
    n, c, h, w = lat64.shape
    z = lat64.permute(0, 2, 3, 1).reshape(-1, c).numpy()
    dist, best64 = boundary_distance(z, model.quantize.embedding.weight.detach().numpy())
    arrays = {"input.npy": x.numpy().astype(np.float32), "latents64.npy": lat64.numpy().astype(np.float64),
              "latents_autocast.npy": lat_ac.numpy().astype(np.float32),
              "codes_autocast.npy": codes.numpy().astype(np.int64),
              "boundary_distance.npy": dist.reshape(n, h, w).astype(np.float64),
              "recon_autocast.npy": recon.numpy().astype(np.float32),
              "recon64.npy": rec64.numpy().astype(np.float32)}
    by_cpu = merged_by_cpu(model, x, arrays)    # before anything in `out` (maybe the committed set) is replaced
    os.makedirs(out, exist_ok=True)
    for name, a in arrays.items():
        np.save(os.path.join(out, name), a)
    lat_ac_rows = lat_ac.permute(0, 2, 3, 1).reshape(-1, c).numpy().astype(np.float64)
    moved = np.linalg.norm(lat_ac_rows - z, axis=1)
    spec = {
        "description": "demo VQGAN (Fixtures/demo) on its 4 photos: PyTorch CPU autocast (bfloat16) outputs and the "
                       "float64 references (tools/make_bf16_fixtures.py docstring)",
        "images": IMAGES, "checkpoint": "../demo/demo-vqgan.ckpt", "config": "../demo/config.yaml",
        "generated_on": cpu_kind(),
        "autocast": {"codes_equal_float64_codes": float(np.mean(codes.numpy().reshape(-1) == best64)),
                     "positions_moved_less_than_boundary_distance": float(np.mean(moved < dist)),
                     "by_cpu": {}},
        "torch": torch.__version__, "generator": "tools/make_bf16_fixtures.py",
    }
    spec["autocast"]["by_cpu"] = by_cpu
    with open(os.path.join(out, "case.json"), "w") as f:
        json.dump(spec, f, indent=1)
    e = spec["autocast"]["by_cpu"][cpu_kind()]
    print(f"autocast vs float64: latents max {e['latents_maxabs']:.3g} rms {e['latents_rms']:.3g}, recon max "
          f"{e['recon_maxabs']:.3g} rms {e['recon_rms']:.3g}; codes equal to float64's "
          f"{100 * spec['autocast']['codes_equal_float64_codes']:.2f}%")


def merged_by_cpu(model, x, arrays):
    """This kind measured now; other kinds kept from the committed case while its arrays are the same."""
    by_cpu = {}
    old = os.path.join(COMMITTED, "case.json")
    if os.path.exists(old):
        with open(old) as f:
            others = {k: e for k, e in json.load(f)["autocast"]["by_cpu"].items() if k != cpu_kind()}
        same = all(np.array_equal(np.load(os.path.join(COMMITTED, n)), arrays[n])
                   for n in ("input.npy", "codes_autocast.npy", "recon64.npy")) and \
            np.abs(np.load(os.path.join(COMMITTED, "latents64.npy")) - arrays["latents64.npy"]).max() <= 1e-12
        if same:
            by_cpu.update(others)
        elif others:
            print(f"the case changed: dropped the autocast errors recorded for {', '.join(sorted(others))}; record "
                  "them again on such a CPU with --record-cpu-errors")
    by_cpu[cpu_kind()] = autocast_errors(model, x, arrays["latents64.npy"],
                                         torch.from_numpy(arrays["codes_autocast.npy"]), arrays["recon64.npy"])
    return dict(sorted(by_cpu.items()))


def record_cpu_errors():
    model = load_model()
    with open(os.path.join(COMMITTED, "case.json")) as f:
        spec = json.load(f)
    a = {n: np.load(os.path.join(COMMITTED, n)) for n in ("input.npy", "latents64.npy", "codes_autocast.npy",
                                                          "recon64.npy")}
    spec["autocast"]["by_cpu"][cpu_kind()] = autocast_errors(
        model, torch.from_numpy(a["input.npy"]), a["latents64.npy"], torch.from_numpy(a["codes_autocast.npy"]),
        a["recon64.npy"])
    spec["autocast"]["by_cpu"] = dict(sorted(spec["autocast"]["by_cpu"].items()))
    with open(os.path.join(COMMITTED, "case.json"), "w") as f:
        json.dump(spec, f, indent=1)
    print(json.dumps(spec["autocast"]["by_cpu"], indent=1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=COMMITTED)
    ap.add_argument("--record-cpu-errors", action="store_true")
    ap.add_argument("--threads", type=int, default=1)   # bitwise reproducible per thread count
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.record_cpu_errors:
        record_cpu_errors()
    else:
        generate(args.out)


if __name__ == "__main__":
    main()
