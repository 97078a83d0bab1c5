#!/usr/bin/env python3
"""Train the bundled demo model: a small latent-diffusion-architecture VQGAN (VQModel) trained with the ROTATION TRICK.

Command line (CPU only, 1 thread, 2500 steps: ~15 CPU-minutes, longer wall time on busy shared cores; deterministic,
resumable: the state is saved every 50 steps to --state and picked up by a rerun with the same arguments):
    nice -n 10 .venv-tools/bin/python tools/train_demo.py            # writes Fixtures/demo/
    .venv-tools/bin/python tools/train_demo.py --steps 50 --out /tmp/demo   # quick smoke run

Model: latent-diffusion VQModel, ch 32, ch_mult (1,2,2) (f=4), 1 res block, no attention resolutions (mid attention
only), z_channels = embed_dim = 4, 512 codes; config resolution 128 (attention placement does not depend on it).
Data: random 32x32 crops (random rescale, flips, mild per-channel gains) of real photos shipped by scikit-image (skimage/data), training set
TRAIN_IMAGES; the demo images TEST_IMAGES are held out and resized (shorter side 128, center crop) to 128x128.
Loss: L1 + MSE on [-1,1] pixels + VQ codebook loss + 0.25 * commitment loss; no perceptual loss, no discriminator.
Gradient through the quantizer: the rotation trick (Fifty et al., ICLR 2025, Algorithm 1 / cfifty/rotation_trick
`get_very_efficient_rotation`): e is mapped to q by the rotation R that takes e/|e| to q/|q| and the rescaling
|q|/|e|, both treated as constants, so the encoder receives the gradient rotated and rescaled instead of copied.
Dead codes (unused for `--restart-every` steps) are re-seeded from current encoder outputs until 80% of training.

Outputs (Fixtures/demo/): demo-vqgan.ckpt (Lightning-style, weights only), config.yaml (latent-diffusion format),
images/*.png (the held-out 128x128 demo images), recon.npy (float32 [N,3,128,128] decoder output, model space, from
decode of the codes), codes.npy (int64 [N,32,32]), reference.json (PSNR / codebook usage / settings).
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import ldm_vqgan, presets  # noqa: E402
from reference.containers import save_lightning_ckpt  # noqa: E402

TRAIN_IMAGES = ["hubble_deep_field.jpg", "ihc.png", "retina.jpg", "motorcycle_left.png", "motorcycle_right.png",
                "brick.png", "grass.png", "gravel.png", "camera.png", "moon.png", "coins.png", "cell.png",
                "color.png", "horse.png"]
TEST_IMAGES = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"]
DEMO_RES = 128


def skimage_data_dir():
    import skimage
    return os.path.join(os.path.dirname(skimage.__file__), "data")


def demo_config():
    dd = ldm_vqgan._dd((1, 2, 2), [], 4, ch=32, num_res_blocks=1, resolution=DEMO_RES)
    return dict(ddconfig=dd, n_embed=512, embed_dim=4)


def rotation_trick(e, q, eps=1e-6):
    """e: encoder outputs [N, d] (require grad), q: their codebook vectors [N, d]. Returns a tensor equal to q in
    value whose gradient w.r.t. e is (|q|/|e|) R^T g, with R the rotation taking e/|e| to q/|q| (constant)."""
    e_norm = torch.norm(e, dim=1, keepdim=True)
    q_norm = torch.norm(q, dim=1, keepdim=True)
    u = (e / (e_norm + eps)).detach()
    qh = (q / (q_norm + eps)).detach()
    w = F.normalize(u + qh, dim=1, eps=eps).detach()
    # e R with R = I - 2 w w^T + 2 u q^T, applied to row vectors without forming R
    rot = e - 2 * (e * w).sum(1, keepdim=True) * w + 2 * (e * u).sum(1, keepdim=True) * qh
    return rot * (q_norm / (e_norm + eps)).detach()


class CropSampler:
    def __init__(self, names, rng):
        self.rng = rng
        self.images = []
        d = skimage_data_dir()
        for n in names:
            img = presets.load_rgb(os.path.join(d, n))
            # several scales: the demo images are whole photos at 128 px, so train mostly on strongly reduced copies
            for short in (96, 128, 176, 256):
                if min(img.shape[:2]) >= short:
                    self.images.append(presets.resize_shorter(img, short).astype(np.float32) / 127.5 - 1.0)

    def batch(self, n, size):
        out = np.empty((n, 3, size, size), np.float32)
        for i in range(n):
            img = self.images[self.rng.integers(len(self.images))]
            h, w = img.shape[:2]
            y, x = self.rng.integers(h - size + 1), self.rng.integers(w - size + 1)
            c = img[y:y + size, x:x + size]
            if self.rng.random() < 0.5:
                c = c[:, ::-1]
            # mild colour augmentation (per-channel gain on [0,1] pixels). Random channel permutations were tried:
            # with 4-d codes and 512 entries the model then gave up on colour and decoded grey images.
            c = np.clip((c + 1.0) * self.rng.uniform(0.9, 1.1, 3).astype(np.float32) - 1.0, -1.0, 1.0)
            out[i] = c.transpose(2, 0, 1)
        return torch.from_numpy(out)


def load_test_images():
    d = skimage_data_dir()
    return [presets.crop_for("ldm-vqgan", presets.load_rgb(os.path.join(d, n)), DEMO_RES) for n in TEST_IMAGES]


def train_step(model, x, opt, beta, usage):
    latents = model.encode_to_prequant(x)
    b, c, h, w = latents.shape
    e = latents.permute(0, 2, 3, 1).reshape(-1, c)
    with torch.no_grad():
        idx = torch.argmin(model.quantize.distances(e), dim=1)
    q = model.quantize.embedding(idx)
    codebook_loss = F.mse_loss(q, e.detach())
    commit_loss = F.mse_loss(e, q.detach())
    q_st = rotation_trick(e, q.detach())
    rec = model.decode(q_st.reshape(b, h, w, c).permute(0, 3, 1, 2))
    rec_loss = F.l1_loss(rec, x) + F.mse_loss(rec, x)
    loss = rec_loss + codebook_loss + beta * commit_loss
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    usage += torch.bincount(idx, minlength=usage.numel())
    return rec_loss.item(), e.detach()


@torch.no_grad()
def evaluate(model, images):
    x = torch.from_numpy(np.stack([presets.to_input("ldm-vqgan", im) for im in images]))
    latents, codes = model.encode(x)
    recon = model.decode_codes(codes)
    pix = presets.to_uint8("ldm-vqgan", recon.numpy())
    psnrs = [presets.psnr_uint8(pix[i].transpose(1, 2, 0), images[i]) for i in range(len(images))]
    used = int(torch.unique(codes).numel())
    return x, latents, codes, recon, psnrs, used


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=2500)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--beta", type=float, default=0.25)
    ap.add_argument("--restart-every", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)   # 2 threads on 2 busy cores spin-wait: ~10x the CPU per step
    ap.add_argument("--state", default="/tmp/vqrt_train_demo_state.pt", help="resumable training state")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Fixtures", "demo"))
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    cfg = demo_config()
    model = ldm_vqgan.build(cfg)
    sampler = CropSampler(TRAIN_IMAGES, rng)
    test_images = load_test_images()

    # codebook init: encoder outputs of a first batch (+ noise), so codes start in the data's region
    with torch.no_grad():
        e = model.encode_to_prequant(sampler.batch(32, args.crop)).permute(0, 2, 3, 1).reshape(-1, 4)
        pick = torch.from_numpy(rng.choice(e.shape[0], cfg["n_embed"], replace=e.shape[0] < cfg["n_embed"]))
        model.quantize.embedding.weight.copy_(e[pick] + 0.01 * torch.randn(cfg["n_embed"], 4))

    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.5, 0.9))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 50) * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * s / args.steps))))
    usage = torch.zeros(cfg["n_embed"], dtype=torch.long)
    t0, losses, restarts, start, spent = time.time(), [], 0, 0, 0.0
    if os.path.exists(args.state):
        st = torch.load(args.state, weights_only=False)
        if st["args"] == vars(args):
            model.load_state_dict(st["model"]); opt.load_state_dict(st["opt"]); sched.load_state_dict(st["sched"])
            usage, losses, restarts, start, spent = st["usage"], st["losses"], st["restarts"], st["step"], st["spent"]
            torch.set_rng_state(st["torch_rng"]); rng.bit_generator.state = st["np_rng"]
            print(f"resumed at step {start}", flush=True)
    model.train()
    for step in range(start, args.steps):
        x = sampler.batch(args.batch, args.crop)
        loss, e = train_step(model, x, opt, args.beta, usage)
        sched.step()
        losses.append(loss)
        if (step + 1) % args.restart_every == 0:
            dead = torch.nonzero(usage == 0).flatten()
            if step < 0.8 * args.steps and dead.numel() > 0:
                with torch.no_grad():
                    src = e[torch.from_numpy(rng.integers(e.shape[0], size=dead.numel()))]
                    model.quantize.embedding.weight[dead] = src + 0.01 * torch.randn_like(src)
                restarts += int(dead.numel())
            usage.zero_()
        if (step + 1) % 50 == 0 or step == 0:
            print(f"step {step + 1}/{args.steps} loss {np.mean(losses[-100:]):.4f} "
                  f"lr {sched.get_last_lr()[0]:.2e} {time.time() - t0:.0f}s", flush=True)
        if (step + 1) % 50 == 0:   # resumable: the state includes both RNGs, so a resumed run is identical
            torch.save({"args": vars(args), "model": model.state_dict(), "opt": opt.state_dict(),
                        "sched": sched.state_dict(), "usage": usage, "losses": losses, "restarts": restarts,
                        "step": step + 1, "spent": spent + time.time() - t0, "torch_rng": torch.get_rng_state(),
                        "np_rng": rng.bit_generator.state}, args.state)
    train_time = spent + time.time() - t0
    model.eval()

    x, latents, codes, recon, psnrs, used = evaluate(model, test_images)
    os.makedirs(os.path.join(args.out, "images"), exist_ok=True)
    names = []
    for n, im in zip(TEST_IMAGES, test_images):
        name = os.path.splitext(n)[0] + ".png"
        Image.fromarray(im).save(os.path.join(args.out, "images", name))
        names.append(name)
    # reload the PNGs to be sure the stored images are what the reference numbers used
    reloaded = [presets.load_rgb(os.path.join(args.out, "images", n)) for n in names]
    assert all(np.array_equal(a, b) for a, b in zip(reloaded, test_images))
    np.save(os.path.join(args.out, "recon.npy"), recon.numpy().astype(np.float32))
    np.save(os.path.join(args.out, "codes.npy"), codes.numpy().astype(np.int64))

    sd = model.state_dict()
    save_lightning_ckpt(os.path.join(args.out, "demo-vqgan.ckpt"), sd, epoch=0, global_step=args.steps,
                        pl_version="1.4.2", optimizer_states=None)
    conf = ldm_vqgan.config_yaml(cfg, lossconfig={"target": "torch.nn.Identity"}, rot_trick=True,
                                 base_learning_rate=args.lr)
    with open(os.path.join(args.out, "config.yaml"), "w") as f:
        f.write("# vqrt demo model (tools/train_demo.py): latent-diffusion VQModel trained with the rotation trick.\n"
                "# Trained with L1+MSE (+VQ losses) only, so no loss.* weights; lossconfig is a placeholder.\n")
        yaml.safe_dump(conf, f, sort_keys=False)
    ref = {
        "model": "demo-vqgan.ckpt", "config": "config.yaml", "family": "ldm-vqgan",
        "preset": {"name": "ldm", "size": DEMO_RES, "input_range": [-1, 1],
                   "output": "floor(clamp((v+1)/2, 0, 1) * 255)"},
        "images": names,
        "recon": "recon.npy (float32 [N,3,128,128], decoder output in model space, decode of codes.npy)",
        "codes": "codes.npy (int64 [N,32,32])",
        "psnr_db": {n: round(p, 4) for n, p in zip(names, psnrs)},
        "psnr_db_mean": round(float(np.mean(psnrs)), 4),
        "psnr_note": "PSNR of the 8-bit reconstruction (preset output mapping) against the 8-bit image, per image",
        "codebook_usage": {"used": used, "size": cfg["n_embed"], "fraction": round(used / cfg["n_embed"], 4),
                           "note": "distinct codes over all demo images"},
        "latents_range": [float(latents.min()), float(latents.max())],
        "training": {"steps": args.steps, "batch": args.batch, "crop": args.crop, "lr": args.lr,
                     "beta": args.beta, "seed": args.seed, "threads": args.threads,
                     "dead_code_restarts": restarts, "wall_seconds": round(train_time, 1),
                     "final_train_loss": round(float(np.mean(losses[-200:])), 5),
                     "train_images": TRAIN_IMAGES, "gradient": "rotation trick",
                     "torch": torch.__version__},
    }
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
    print(json.dumps({k: ref[k] for k in ("psnr_db", "psnr_db_mean", "codebook_usage")}, indent=1))


if __name__ == "__main__":
    main()
