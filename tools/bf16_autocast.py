#!/usr/bin/env python3
"""How close is `vqrt --precision bf16` to PyTorch's CPU autocast (dtype=torch.bfloat16)? A measurement, not a fixture.

Command line (from the package root, after `swift build -c release`; a minute or two on 2 cores):
    nice .venv-tools/bin/python tools/bf16_autocast.py [--vqrt .build/release/vqrt] [--threads 2]

Model: the bundled demo VQGAN (Fixtures/demo, latent-diffusion VQModel, ldm preset at 128) through the reference
re-implementation (tools/reference/ldm_vqgan.py). Images: the scikit-image photos (skimage/data/*.png) and
Fixtures/demo/images, each cropped here to 128x128 (shorter side to 128 with PIL bilinear, centre crop) and written
as PNG for vqrt, so both sides see the same pixels (vqrt's ldm preset resizes with OpenCV's arithmetic instead).

PyTorch variants:
  fp32            plain float32;
  autocast        encoder and decoder under torch.autocast("cpu", dtype=torch.bfloat16), the quantizer's distance
                  computation and argmin in float32 (what `--precision bf16` specifies);
  autocast-all    the whole model under autocast, including the distances' einsum (upstream code run naively).
vqrt: `vqrt encode --precision fp32|bf16` on the same 128x128 crops (codes). The 8-bit PSNR is computed here for
the PyTorch variants only (vqrt's own PSNR comes from `vqrt eval`).

Prints, for each pair, the fraction of equal codes, and per variant the mean 8-bit PSNR.
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from reference import ldm_vqgan, presets  # noqa: E402
import train_demo  # noqa: E402

DEMO = os.path.join(ROOT, "Fixtures", "demo")


def image_files():
    import skimage
    sk = sorted(glob.glob(os.path.join(os.path.dirname(skimage.__file__), "data", "*.png")))
    return sk + sorted(glob.glob(os.path.join(DEMO, "images", "*.png")))


def load_model():
    model = ldm_vqgan.build(train_demo.demo_config()).eval()
    ck = torch.load(os.path.join(DEMO, "demo-vqgan.ckpt"), map_location="cpu", weights_only=True)
    model.load_state_dict(ck["state_dict"], strict=True)
    return model


@torch.no_grad()
def run_torch(model, x, variant):
    """(codes [N, h, w] int64, recon float32 [N, 3, H, W]) of one variant."""
    bf16 = torch.autocast("cpu", dtype=torch.bfloat16)
    if variant == "fp32":
        latents, codes = model.encode(x)
        return codes, model.decode_codes(codes)
    if variant == "autocast":
        with bf16:
            latents = model.encode_to_prequant(x)
        codes = model.codes_from_latents(latents.float())
        b, h, w = codes.shape
        quant = model.quantize.get_codebook_entry(codes.reshape(-1), (b, h, w, model.embed_dim))
        with bf16:
            recon = model.decode(quant)
        return codes, recon.float()
    if variant == "autocast-all":
        with bf16:
            latents, codes = model.encode(x)
            recon = model.decode_codes(codes)
        return codes, recon.float()
    raise ValueError(variant)


def vqrt_codes(binary, crops, precision, threads):
    from PIL import Image
    with tempfile.TemporaryDirectory() as d:
        files = []
        for i, c in enumerate(crops):
            files.append(os.path.join(d, f"{i:03d}.png"))
            Image.fromarray(c).save(files[-1])
        out = os.path.join(d, "codes.npy")
        subprocess.run([binary, "encode", "--checkpoint", os.path.join(DEMO, "demo-vqgan.ckpt"),
                        "--config", os.path.join(DEMO, "config.yaml"), "--precision", precision,
                        "--threads", str(threads), "--codes", out, "--quiet"] + files, check=True)
        return np.load(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vqrt", default=os.path.join(ROOT, ".build", "release", "vqrt"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    files = image_files()
    crops = [presets.crop_for("ldm-vqgan", presets.load_rgb(f), train_demo.DEMO_RES) for f in files]
    x = torch.from_numpy(np.stack([presets.to_input("ldm-vqgan", c) for c in crops]))
    model = load_model()
    codes, psnr = {}, {}
    for variant in ["fp32", "autocast", "autocast-all"]:
        c, r = run_torch(model, x, variant)
        codes["torch " + variant] = c.numpy()
        pix = presets.to_uint8("ldm-vqgan", r.numpy())
        psnr[variant] = np.mean([presets.psnr_uint8(pix[i].transpose(1, 2, 0), crops[i]) for i in range(len(crops))])
    for p in ["fp32", "bf16"]:
        codes["vqrt " + p] = vqrt_codes(args.vqrt, crops, p, args.threads)
    print(f"{len(files)} images, {codes['torch fp32'].size} code positions")
    for variant, value in psnr.items():
        print(f"torch {variant:13s} mean PSNR {value:.3f} dB")
    pairs = [("vqrt fp32", "torch fp32"), ("vqrt bf16", "torch autocast"), ("torch autocast", "torch fp32"),
             ("vqrt bf16", "torch fp32"), ("vqrt bf16", "vqrt fp32"), ("torch autocast-all", "torch fp32"),
             ("torch autocast-all", "torch autocast")]
    for a, b in pairs:
        print(f"codes equal  {a:18s} vs {b:18s} {100 * np.mean(codes[a] == codes[b]):6.2f}%")


if __name__ == "__main__":
    main()
