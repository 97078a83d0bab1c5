#!/usr/bin/env python3
"""Model faithfulness fixtures (contract C5) -> Fixtures/models/<case>/.

Command line (deterministic: bitwise reproducible on one CPU kind with the default --threads 1; ~6 min):
    nice .venv-tools/bin/python tools/make_model_fixtures.py              # all cases
    nice .venv-tools/bin/python tools/make_model_fixtures.py --only ldm-small vit-full-small
    nice .venv-tools/bin/python tools/make_model_fixtures.py --check      # regenerate into a temp dir, compare
    nice .venv-tools/bin/python tools/make_model_fixtures.py --record-cpu-errors   # see below

SMALL cases: tiny configurations in their real upstream containers, weights committed (generated with vqrt-rng-v1,
then the codebook / a bias adjusted as described in case.json, and saved in the container).
FULL cases: the released architectures with vqrt-rng-v1 weights (NOT committed: Swift regenerates them from the
seed, applying the listed `overrides`); only inputs and PyTorch outputs are committed.

Per case: input.npy (float32 [N,3,H,W], model input space), latents.npy / latents64.npy (float32 / float64; what
the quantizer receives: [N,C,h,w] for conv models, [N,T,C] for vit), codes.npy (int64 [N,h,w], float32 run),
recon.npy (float32 decode of codes.npy: the 8-bit pixel check compares with it), recon64.npy (float64 decode of
THE SAME codes; vit-full-small stores it rounded to float32 to stay small), code_margin.npy (float64 [N,h,w],
|best - second| of the float64 quantizer scores, in the quantizer's own units), case.json (config, weights,
tolerances, notes).

Input sizes: every 3x3 stride-1 convolution of each family has outputs of >= 64x64 pixels (where vqrt's Winograd
path takes over) in at least one case: the small cases run 64x64 inputs, and one Table 1 f=4 case and the Table 3
64x64x3 case run 256x256 inputs, so their 256- and 512-channel layers work at 128x128 and 64x64.

Tolerances are PyTorch's own float32-vs-float64 max-abs / RMS errors; vqrt (float32) must land within `factor`
(4) times them against the *64 arrays, and its codes must equal codes.npy wherever code_margin >= 1e-5.
PyTorch's float32 error depends on the CPU kernels it runs (AVX2 convolutions accumulate in another order than
AVX-512 ones), so it is recorded per CPU kind under tolerances.by_cpu[<kind>] (kind = torch's CPU capability,
AVX2 or AVX512), the larger of the contiguous and channels_last runs (different kernels); the tests apply the entry
of the kind they run on; where it is missing they check against the largest recorded error, with a warning.
Generating a case records this machine's kind. Another kind's entry is kept by a rerun only while the case's inputs
and weights are unchanged and its float64 arrays agree to 1e-12 (relative); otherwise it is dropped, with a message.
`--record-cpu-errors` adds (or refreshes) this machine's kind for the committed cases without changing anything
else: run it on a CPU of each kind the tests must pass on.

Byte-identical regeneration: inputs, weights and case.json depend only on the code (weight adjustments derived
from encoder outputs are computed in float64); the float arrays PyTorch computes depend on the CPU kind's kernels,
so a rerun reproduces every byte on a CPU of the kind in case.json's `generated_on`, and elsewhere differs by
rounding only (`--check` prints the largest difference of each array that differs).
"""
import argparse
import contextlib
import copy
import filecmp
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import torch
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from reference import containers, ldm_vqgan, presets, rt_vqvae, vit_vqgan  # noqa: E402
from cpu_name import cpu_errors, cpu_kind  # noqa: E402
from vqrt_rng import fill_state_dict  # noqa: E402

COMMITTED = os.path.normpath(os.path.join(HERE, "..", "Fixtures", "models"))
OUT = COMMITTED
FACTOR = 4
ERROR_KEYS = ("latents_f32_vs_f64_maxabs", "latents_f32_vs_f64_rms", "recon_f32_vs_f64_maxabs", "recon_f32_vs_f64_rms")
CODEBOOK_SOURCES = ["hubble_deep_field.jpg", "ihc.png", "retina.jpg", "motorcycle_right.png"]


def skimage_path(name):
    import skimage
    return os.path.join(os.path.dirname(skimage.__file__), "data", name)


def synthetic_image(size, seed=0):
    """Deterministic RGB test card: colour ramps, a disc, stripes, a checkerboard and mild noise."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) / max(size - 1, 1)
    img = np.stack([x, y, 1 - 0.5 * (x + y)], axis=-1)
    disc = (x - 0.62) ** 2 + (y - 0.38) ** 2 < 0.05
    img[disc] = [0.95, 0.85, 0.1]
    stripes = (np.floor(x * 12) % 2 == 0) & (y > 0.7)
    img[stripes] = 0.1
    checker = ((np.floor(x * 16) + np.floor(y * 16)) % 2 == 0) & (x < 0.3) & (y < 0.3)
    img[checker] = 1.0
    img += np.random.default_rng(seed).normal(0, 0.02, img.shape)
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


def prepare(family, source, size):
    """uint8 S x S x 3 image: the family preset at S=256 (true preset); at other sizes the image is first scaled
    (shorter side -> S) and center-cropped, then the family's value mapping applies."""
    if source == "synthetic":
        return synthetic_image(size), "synthetic test card (make_model_fixtures.synthetic_image)"
    img = presets.load_rgb(skimage_path(source))
    if size == 256:
        return presets.crop_for(family, img, 256), f"skimage/data/{source}, {family} preset at 256"
    rounding = "floor" if family == "ldm-vqgan" else "round"
    return (presets.center_crop(presets.resize_shorter(img, size), size, rounding),
            f"skimage/data/{source}, shorter side -> {size} (PIL bilinear), center crop {size}")


def codebook_from_latents(model, family, size, n_codes, noise, seed):
    """Codebook rows sampled from encoder outputs of CODEBOOK_SOURCES (+ Gaussian noise of `noise` x the latent
    std), so codes are spread over the data instead of all collapsing onto a few. Computed in float64 (then
    rounded to float32 by the caller's copy_) so that the weights do not depend on the CPU's float32 kernels."""
    xs = np.stack([presets.to_input(family, prepare(family, s, size)[0]) for s in CODEBOOK_SOURCES])
    with torch.no_grad():
        lat = copy.deepcopy(model).double().encode_to_prequant(torch.from_numpy(xs).double())
    flat = lat.reshape(-1, lat.shape[-1]) if family == "vit-vqgan" else lat.permute(0, 2, 3, 1).reshape(-1, lat.shape[1])
    g = torch.Generator().manual_seed(seed)
    pick = torch.randint(flat.shape[0], (n_codes,), generator=g)
    return flat[pick] + noise * flat.std() * torch.randn(n_codes, flat.shape[1], generator=g, dtype=torch.float64)


# ----------------------------------------------------------------------------------------------- cases

def ldm_small_cfg():
    return dict(ddconfig=ldm_vqgan._dd((1, 1), [16], 4, ch=32, num_res_blocks=1, resolution=32), n_embed=64,
                embed_dim=4)


def vit_small_cfg():
    return dict(image_size=64, patch_size=8,
                encoder=dict(dim=64, depth=2, heads=4, mlp_dim=128, dim_head=16),
                decoder=dict(dim=96, depth=1, heads=1, mlp_dim=128, dim_head=96),   # heads 1 & dim_head == dim: no to_out
                quantizer=dict(embed_dim=8, n_embed=64))


CASES = {
    # ---------------- small, weights committed
    "ldm-small": dict(
        kind="small", family="ldm-vqgan", seed=11, size=64, images=["astronaut.png", "synthetic"],
        build=lambda: ldm_vqgan.build(ldm_small_cfg()), config=ldm_small_cfg,
        container="ldm", file="model.ckpt",
        description="latent-diffusion VQModel, ch 32, ch_mult (1,1), 1 res block, attention at 16 (down.1/up.1) + "
                    "mid, z=embed 4, 64 codes; Lightning 1.4.2 checkpoint with loss.* weights, optimizer states and a "
                    "ModelCheckpoint callback keyed by its class; config.yaml beside it"),
    "rt-small-cosine": dict(
        kind="small", family="rt-vqvae", seed=12, size=64, images=["chelsea.png", "synthetic"],
        build=lambda: rt_vqvae.build(8, "cosine", ch=32, ch_mult=(1, 1), num_res_blocks=1, attn_resolutions=[16],
                                     z_channels=32, resolution=32, embed_dim=8, n_embed=64),
        container="rt", file="20_model.pth", codebook="cosine", f=8,
        description="rotation_trick VQVAE (Table 1 layout) shrunk: ch 32, ch_mult (1,1), 1 res block, attention at "
                    "16 + mid, z 32 -> Linear+LayerNorm -> 8, 64 cosine codes (unit norm); the trainer's dict with "
                    "'module.' keys, args Namespace, AdamW state and the pickled scheduler object"),
    "vit-small": dict(
        kind="small", family="vit-vqgan", seed=13, size=64, images=["coffee.png", "synthetic"],
        build=lambda: vit_vqgan.build(vit_small_cfg()), config=vit_small_cfg,
        container="vit", file="last.ckpt",
        description="enhancing-transformers ViTVQ shrunk: 64x64, patch 8 (8x8 tokens); encoder dim 64, depth 2, "
                    "heads 4, dim_head 16 (inner 64), mlp 128; decoder dim 96, depth 1, heads 1, dim_head 96 (no "
                    "to_out), mlp 128; 8-d codes, 64 codes; Lightning 1.5.10 checkpoint (loss.* first, aliased "
                    "lpips lin0/lins.0), upstream-style config.yaml (dim_head written explicitly)"),
    # ---------------- full-size architectures, generator weights (not committed)
    "rt-full-f8-cosine": dict(
        kind="full", family="rt-vqvae", seed=101, size=128, images=["astronaut.png"],
        build=lambda: rt_vqvae.build(8, "cosine"), codebook="cosine", f=8,
        description="Table 1 f=8 cosine (ch 128, ch_mult 1,1,2,2,4, attn 16, z 256 -> 32, LayerNorm, 1024 codes); "
                    "128x128 input (8x8 latents)"),
    "rt-full-f8-euclidean": dict(
        kind="full", family="rt-vqvae", seed=102, size=128, images=["chelsea.png"],
        build=lambda: rt_vqvae.build(8, "euclidean"), codebook="euclidean", f=8,
        description="Table 1 f=8 euclidean (z 256 -> Linear -> 32, 1024 codes); 128x128 input (8x8 latents)"),
    "rt-full-f4-cosine": dict(
        kind="full", family="rt-vqvae", seed=103, size=256, images=["coffee.png"],
        build=lambda: rt_vqvae.build(4, "cosine"), codebook="cosine", f=4,
        description="Table 1 f=4 cosine (ch_mult 1,2,4, z 3, no projections, 8192 codes); 256x256 input (64x64 "
                    "latents; its 512-channel layers at 64x64, the 256-channel ones at 128x128)"),
    "rt-full-f4-euclidean": dict(
        kind="full", family="rt-vqvae", seed=104, size=64, images=["rocket.jpg"],
        build=lambda: rt_vqvae.build(4, "euclidean"), codebook="euclidean", f=4,
        description="Table 1 f=4 euclidean (8192 codes of dim 3); 64x64 input (16x16 latents)"),
    "ldm-full-t3-32x32x4": dict(
        kind="full", family="ldm-vqgan", seed=105, size=128, images=["motorcycle_left.png"],
        build=lambda: ldm_vqgan.build("table3-32x32x4"), config=lambda: ldm_vqgan.CONFIGS["table3-32x32x4"],
        description="rotation_trick Table 3 32x32x4 = vq-f8 layout (ch_mult 1,2,2,4, attn 32, 16384 codes of dim "
                    "4); 128x128 input (16x16 latents)"),
    "ldm-full-t3-64x64x3": dict(
        kind="full", family="ldm-vqgan", seed=106, size=256, images=["synthetic"],
        build=lambda: ldm_vqgan.build("table3-64x64x3"), config=lambda: ldm_vqgan.CONFIGS["table3-64x64x3"],
        description="rotation_trick Table 3 64x64x3 = vq-f4 layout (ch_mult 1,2,4, mid attention only, 8192 codes "
                    "of dim 3); 256x256 synthetic input (64x64 latents; its 512-channel layers at 64x64)"),
    "vit-full-small": dict(
        kind="full", family="vit-vqgan", seed=107, size=256, images=["astronaut.png"],
        build=lambda: vit_vqgan.build("small"), config=lambda: vit_vqgan.CONFIGS["small"],
        description="enhancing-transformers ViTVQ small (Table 4): 256x256, patch 8, dim 512, depth 8, heads 8, "
                    "mlp 2048, 32-d codes, 8192 codes"),
}


# ----------------------------------------------------------------------------------------------- helpers

def stats(a, b):
    d = (np.asarray(a, np.float64) - np.asarray(b, np.float64)).reshape(-1)
    return float(np.abs(d).max()), float(np.sqrt(np.mean(d * d)))


def margins(model, latents64, codes_shape):
    scores, mode = model.code_scores(latents64)
    s = torch.sort(scores, dim=1, descending=(mode == "max")).values
    return (s[:, 0] - s[:, 1]).abs().reshape(codes_shape).numpy().astype(np.float64)


def npy_info(path):
    a = np.load(path)
    return {"dtype": str(a.dtype), "shape": list(a.shape)}


def save_case_arrays(d, x32, lat32, lat64, codes32, margin, rec32, rec64, rec64_dtype=np.float64):
    """The arrays of a model case (ConformanceTests reads them): input, latents in float32 and float64, codes,
    their float64 margins, and the decoding of the codes in float32 and float64 (`rec64_dtype`)."""
    np.save(os.path.join(d, "input.npy"), x32.numpy().astype(np.float32))
    np.save(os.path.join(d, "latents.npy"), lat32.numpy().astype(np.float32))
    np.save(os.path.join(d, "latents64.npy"), lat64.numpy().astype(np.float64))
    np.save(os.path.join(d, "codes.npy"), codes32.numpy().astype(np.int64))
    np.save(os.path.join(d, "code_margin.npy"), margin)
    np.save(os.path.join(d, "recon.npy"), rec32.numpy().astype(np.float32))
    np.save(os.path.join(d, "recon64.npy"), rec64.numpy().astype(rec64_dtype))


def worst_float32_error(run, lat64, rec64, layouts=("contiguous", "channels_last")):
    """PyTorch's own float32 error on this CPU: the largest max |error| and RMS error against the float64 latents
    and decoding over `layouts` (different kernels); `run(layout)` returns that layout's float32 (latents, recon)."""
    worst = {k: 0.0 for k in ERROR_KEYS}
    for layout in layouts:
        la, re = run(layout)
        for what, a, b in (("latents", la, lat64), ("recon", re, rec64)):
            mx, rms = stats(a.contiguous().numpy(), b.numpy() if torch.is_tensor(b) else b)
            worst[f"{what}_f32_vs_f64_maxabs"] = max(worst[f"{what}_f32_vs_f64_maxabs"], mx)
            worst[f"{what}_f32_vs_f64_rms"] = max(worst[f"{what}_f32_vs_f64_rms"], rms)
    return worst


def channels_last(model, x):
    """A copy of `model` and `x` in channels_last memory format."""
    return copy.deepcopy(model).to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)


def codes_summary(codes32, codes64, margin):
    """case.json's "codes": how many codes the case uses, where float32 and float64 PyTorch disagree, and how
    decided its codes are (the float64 margin between the best and second-best score)."""
    mismatch = (codes32 != codes64).numpy()
    return {"distinct": int(torch.unique(codes32).numel()), "positions": int(codes32.numel()),
            "f32_vs_f64_mismatches": int(mismatch.sum()),
            "max_margin_at_mismatch": float(margin[mismatch].max()) if mismatch.any() else None,
            "min_margin": float(margin.min()), "median_margin": float(np.median(margin)),
            "positions_with_margin_below_1e-5": int((margin < 1e-5).sum())}


def weights_note(case, overrides):
    return {"generator": "vqrt-rng-v1", "seed": case["seed"],
            "names": "the bare model's state-dict keys (no module./first_stage_model. prefix), all tensors incl. "
                     "buffers; each tensor's stream depends only on its own name, so tensors a port does not "
                     "use may be skipped",
            "overrides": overrides}


def write_container(case, model, d):
    fam = case["family"]
    if case["container"] == "ldm":
        loss = containers.randomize_(containers.TamingLossStub(), case["seed"])
        sd = containers.lightning_state_dict(model, loss, ["encoder", "decoder", "loss", "quantize", "quant_conv",
                                                           "post_quant_conv"])
        ae = [p for n in ("encoder", "decoder", "quantize", "quant_conv", "post_quant_conv")
              for p in getattr(model, n).parameters()]
        disc = list(loss.discriminator.parameters())
        opt = [containers.adam_state_dict(len(ae), [(0, ae[0]), (1, ae[1])], lr=7.2e-05),
               containers.adam_state_dict(len(disc), list(enumerate(disc)), lr=7.2e-05)]
        containers.save_lightning_ckpt(os.path.join(d, case["file"]), sd, epoch=3, global_step=1234,
                                       pl_version="1.4.2", optimizer_states=opt, best_score=0.0871)
        cfg = ldm_vqgan.config_yaml(case["config"](), data={
            "target": "main.DataModuleFromConfig",
            "params": {"batch_size": 8, "num_workers": 16, "wrap": True,
                       "train": {"target": "ldm.data.openimages.FullOpenImagesTrain", "params": {"crop_size": 256}},
                       "validation": {"target": "ldm.data.openimages.FullOpenImagesValidation",
                                      "params": {"crop_size": 256}}}})
        with open(os.path.join(d, "config.yaml"), "w") as f:
            yaml.safe_dump(cfg, f, sort_keys=False)
        return {"file": case["file"], "format": "lightning 1.4.2 (zip)", "state_dict": "state_dict",
                "prefix": None, "config_yaml": "config.yaml",
                "ignored": "loss.* (stub LPIPS + discriminator tensors), optimizer_states (state for a few params "
                           "only), callbacks (ModelCheckpoint class as dict key), lr_schedulers"}
    if case["container"] == "rt":
        args = containers.rt_args(case["codebook"], case["f"])
        containers.save_rt_checkpoint(os.path.join(d, case["file"]), model, args, epoch=20)
        return {"file": case["file"], "format": "torch.save dict (zip) of rotation_trick Train_Manager",
                "state_dict": "model", "prefix": "module.", "config_yaml": None,
                "args": vars(args),
                "ignored": "optimizer (AdamW state for 2 params only), scheduler (pickled "
                           "src.train_utils.schedulers.WarmupCosineFlatSchedule object holding the AdamW object, "
                           "whose param_groups reference the same Parameters, and a bound-method lr_lambda), "
                           "best_val_loss",
                "note": "args describes the Table 1 run (f=8, cosine); the small architecture itself must be read "
                        "from the state-dict shapes"}
    if case["container"] == "vit":
        loss = containers.randomize_(containers.EnhancingLossStub(), case["seed"])
        sd = containers.lightning_state_dict(model, loss, ["loss", "encoder", "decoder", "quantizer", "pre_quant",
                                                           "post_quant"])
        ae = [p for n in ("encoder", "decoder", "quantizer", "pre_quant", "post_quant")
              for p in getattr(model, n).parameters()]
        disc = list(loss.discriminator.parameters())
        opt = [containers.adam_state_dict(len(ae), [(0, ae[0])], lr=1e-4, betas=(0.9, 0.99)),
               containers.adam_state_dict(len(disc), list(enumerate(disc)), lr=1e-4, betas=(0.9, 0.99))]
        containers.save_lightning_ckpt(os.path.join(d, case["file"]), sd, epoch=7, global_step=40000,
                                       pl_version="1.5.10", optimizer_states=opt, monitor="val/rec_loss",
                                       best_score=0.0123)
        with open(os.path.join(d, "config.yaml"), "w") as f:
            yaml.safe_dump(vit_vqgan.config_yaml(case["config"]()), f, sort_keys=False)
        return {"file": case["file"], "format": "lightning 1.5.10 (zip)", "state_dict": "state_dict", "prefix": None,
                "config_yaml": "config.yaml",
                "ignored": "loss.* (stub lpips incl. aliased lin0/lins.0 + StyleDiscriminator tensors), "
                           "optimizer_states, callbacks (string key), lr_schedulers"}
    raise ValueError(case["container"])


def config_of(case, model):
    fam = case["family"]
    if fam == "ldm-vqgan":
        return {"ddconfig": model.ddconfig, "n_embed": model.n_embed, "embed_dim": model.embed_dim}
    if fam == "rt-vqvae":
        return {"ddconfig": model.ddconfig, "embed_dim": model.embed_dim, "n_embed": model.num_codes,
                "codebook": "cosine" if model.cosine else "euclidean", "f": case["f"],
                "projections": not isinstance(model.pre_quant_proj, torch.nn.Identity),
                "layernorm_after_projection": model.cosine and not isinstance(model.pre_quant_proj, torch.nn.Identity)}
    return dict(model.cfg)


# ----------------------------------------------------------------------------------------------- main work

def run_case(name, case):
    t0 = time.time()
    fam, size = case["family"], case["size"]
    torch.manual_seed(case["seed"])
    model = case["build"]().eval()
    fill_state_dict(model, case["seed"])
    overrides, codebook_note = {}, "vqrt-rng-v1 values as generated"

    imgs, img_notes = zip(*[prepare(fam, s, size) for s in case["images"]])
    x32 = torch.from_numpy(np.stack([presets.to_input(fam, im) for im in imgs]))

    with torch.no_grad():
        if case["kind"] == "small" and fam in ("ldm-vqgan", "rt-vqvae"):
            cb = codebook_from_latents(model, fam, size, model.n_embed if fam == "ldm-vqgan" else model.num_codes,
                                       noise=0.1, seed=case["seed"])
            if fam == "ldm-vqgan":
                model.quantize.embedding.weight.copy_(cb)
            else:
                cb = torch.nn.functional.normalize(cb, dim=-1) if model.cosine else cb
                model.vq._codebook.embed.copy_(cb[None])
                model.vq._codebook.embed_avg.copy_(cb[None])
            codebook_note = ("codebook = encoder outputs (pre-quantisation latents) of " + ", ".join(CODEBOOK_SOURCES)
                             + f" at {size}px, sampled with replacement + Gaussian noise (0.1 x latent std)"
                             + (", rows l2-normalised (as the EMA cosine codebook is)" if fam == "rt-vqvae" and
                                model.cosine else "") + "; stored in the checkpoint")
        if fam == "vit-vqgan":
            # A random ViT maps all tokens of an image into a narrow cone around an image-specific direction, so
            # every token would pick the same few codes. Centring the latents on this input (pre_quant.bias) fixes
            # it; the values are stored (in the checkpoint for small, in case.json for full).
            # In float64, so that the weights do not depend on the CPU's float32 kernels.
            lat = copy.deepcopy(model).double().encode_to_prequant(x32.double())
            model.pre_quant.bias.copy_(model.pre_quant.bias.double() - lat.mean(dim=(0, 1)))
            codebook_note = ("codebook: vqrt-rng-v1 values; pre_quant.bias replaced by (bias - mean latent of the "
                             "input images) so latents are centred and codes spread")
            if case["kind"] == "full":
                overrides["pre_quant.bias"] = {
                    "values": [float(v) for v in model.pre_quant.bias.numpy().astype(np.float32)],
                    "dtype": "float32", "note": "replaces the generated tensor (exact float32 values)"}

    # float32 run
    with torch.no_grad():
        lat32, codes32 = model.encode(x32)
        rec32 = model.decode_codes(codes32)
        fwd32 = model(x32)
    # float64 run: same weights cast, same input cast, recon decodes the float32 codes
    m64 = copy.deepcopy(model).double()
    with torch.no_grad():
        lat64, codes64 = m64.encode(x32.double())
        rec64 = m64.decode_codes(codes32)
        margin = margins(m64, lat64, codes32.shape)

    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    container = None
    if case["kind"] == "small":
        container = write_container(case, model, d)
    rec64_dtype = np.float32 if fam == "vit-vqgan" and case["kind"] == "full" else np.float64   # 256x256: size
    save_case_arrays(d, x32, lat32, lat64, codes32, margin, rec32, rec64, rec64_dtype)

    lat_max, lat_rms = stats(lat32.numpy(), lat64.numpy())
    rec_max, rec_rms = stats(rec32.numpy(), np.load(os.path.join(d, "recon64.npy")))
    mismatch = (codes32 != codes64).numpy()
    case_json = {
        "family": fam,
        "description": case["description"],
        "config": config_of(case, model),
        "weights": case["file"] if case["kind"] == "small" else weights_note(case, overrides),
        "weights_origin": ({"generator": "vqrt-rng-v1", "seed": case["seed"], "then": codebook_note}
                           if case["kind"] == "small" else codebook_note),
        "container": container,
        "input": "input.npy",
        "images": [{"index": i, "source": note} for i, note in enumerate(img_notes)],
        "input_mapping": {"ldm-vqgan": "x/127.5 - 1 (float64 math, cast to float32)",
                          "vit-vqgan": "x/255 (float32)",
                          "rt-vqvae": "(x/255 - mean)/std in float32, mean (0.4815,0.4578,0.4082), "
                                      "std (0.2686,0.2613,0.2758)"}[fam],
        "arrays": {f: npy_info(os.path.join(d, f)) for f in sorted(os.listdir(d)) if f.endswith(".npy")},
        "latents_definition": {"ldm-vqgan": "quant_conv(encoder(x)), [N, embed_dim, h, w]",
                               "rt-vqvae": "pre_quant_proj(encoder(x)) before any l2 normalisation, [N, D, h, w]",
                               "vit-vqgan": "pre_quant(encoder(x)) before l2 normalisation, [N, T, D]"}[fam],
        "recon_definition": "decoder output in model space for decode_codes(codes.npy) (exact codebook rows, not "
                            "the straight-through forward)",
        "generated_on": cpu_kind(),
        "tolerances": {
            "factor": FACTOR,
            "rule": "vqrt's max |error| against latents64.npy / recon64.npy <= factor x PyTorch's own float32 error "
                    "by_cpu[the kind of CPU the test runs on]; no entry for that kind: the test fails",
            "recon_npy_f32_vs_f64_maxabs": rec_max,
            "codes": "must equal codes.npy wherever code_margin >= 1e-5",
            "by_cpu": {},
        },
        "codes": {"distinct": int(torch.unique(codes32).numel()), "positions": int(codes32.numel()),
                  "f32_vs_f64_mismatches": int(mismatch.sum()),
                  "min_margin_at_mismatch": float(margin[mismatch].max()) if mismatch.any() else None,
                  "min_margin": float(margin.min()), "median_margin": float(np.median(margin)),
                  "positions_with_margin_below_1e-5": int((margin < 1e-5).sum())},
        "forward_vs_decode_codes_maxabs": stats(fwd32.numpy(), rec32.numpy())[0],
        "generator": "tools/make_model_fixtures.py", "torch": torch.__version__,
    }
    if fam == "vit-vqgan" and case["kind"] == "full":
        case_json["arrays_note"] = "recon64.npy holds the float64 result rounded to float32 (size)"
    case_json["tolerances"]["by_cpu"] = merged_cpu_errors(name, case, case_json, d, model)
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump(case_json, f, indent=1)
    size_kb = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)) / 1024
    print(f"{name:24s} {time.time() - t0:6.1f}s {size_kb:8.0f} KB  distinct {case_json['codes']['distinct']:4d}/"
          f"{codes32.numel():5d}  lat {lat_max:.2e}/{lat_rms:.2e}  rec {rec_max:.2e}/{rec_rms:.2e}  "
          f"mismatch {int(mismatch.sum())}  fwd-vs-dec {case_json['forward_vs_decode_codes_maxabs']:.1e}", flush=True)
    return case_json


def committed_model(case, d, spec):
    """The case's model with exactly the committed weights: the small cases' checkpoint, or vqrt-rng-v1 values plus
    the listed overrides for the full ones."""
    model = case["build"]().eval()
    fill_state_dict(model, case["seed"])
    if case["kind"] == "small":
        containers._schedulers_module()   # the rt container pickles its scheduler class
        ckpt = torch.load(os.path.join(d, case["file"]), map_location="cpu", weights_only=False)
        sd = ckpt["model"] if case["container"] == "rt" else ckpt["state_dict"]
        sd = {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items() if not k.startswith("loss.")}
        missing, unexpected = model.load_state_dict(sd, strict=False)
        assert not missing and not unexpected, (missing, unexpected)
    else:
        with torch.no_grad():
            state = model.state_dict()
            for key, o in spec["weights"].get("overrides", {}).items():
                state[key].copy_(torch.tensor(o["values"], dtype=torch.float32).reshape(state[key].shape))
    return model


def measure_cpu_errors(name, model, d):
    """PyTorch's float32 error on this machine for the case in directory d (its input, codes and float64 arrays),
    the larger of the contiguous and channels_last runs (different kernels)."""
    x, codes, lat64, rec64 = committed_case_arrays(d)
    layouts = ["contiguous", "channels_last"]

    def run(layout):
        m, xi = (model, x) if layout == "contiguous" else channels_last(model, x)
        with torch.no_grad():
            lat32, codes32 = m.encode(xi)
            rec32 = m.decode_codes(codes)
        if not torch.equal(codes32.reshape(codes.shape), codes):
            print(f"{name}: {int((codes32.reshape(codes.shape) != codes).sum())} codes differ from codes.npy ({layout})")
        return lat32, rec32
    return cpu_errors(worst_float32_error(run, lat64, rec64, layouts), layouts)


# The records of other CPU kinds: shared with tools/make_upstream_model_fixtures.py and
# tools/make_upstream_family_fixtures.py (their cases have this file's layout and the same `kind` / `file` keys).

def committed_case_arrays(d):
    """What a CPU-error record is measured on: the committed case's input (float32 tensor), codes (int64 tensor)
    and float64 latents / decoding (numpy)."""
    def load(f):
        return np.load(os.path.join(d, f))
    return (torch.from_numpy(load("input.npy")), torch.from_numpy(load("codes.npy")), load("latents64.npy"),
            load("recon64.npy"))


def previous_cpu_errors(spec):
    """by_cpu of an existing case.json keyed by CPU kind (older files: "<kind> (<processor>)" keys, or the
    generating machine's errors at the top level of `tolerances`)."""
    tol = spec.get("tolerances", {})
    out = {}
    for key, e in tol.get("by_cpu", {}).items():
        kind, _, rest = key.partition(" (")
        e = dict(e)
        if rest and "processor" not in e:
            e["processor"] = rest.rstrip(")")
            e["layouts"] = ["contiguous"] if "contiguous only" in rest else ["contiguous", "channels_last"]
        out[kind] = e
    return out


def same_case(old_dir, new_dir, case, new_weights):
    """Whether the case in new_dir has the inputs and weights of the one in old_dir, and float64 arrays equal to
    1e-12 relative: then errors PyTorch made on old_dir's case hold for new_dir's."""
    def same_bytes(f):
        a, b = os.path.join(old_dir, f), os.path.join(new_dir, f)
        return os.path.exists(a) and os.path.exists(b) and filecmp.cmp(a, b, shallow=False)
    if not same_bytes("input.npy") or (case["kind"] == "small" and not same_bytes(case["file"])):
        return False
    if case["kind"] == "full":
        with open(os.path.join(old_dir, "case.json")) as f:
            if json.load(f)["weights"] != new_weights:
                return False
    for f in ("latents64.npy", "recon64.npy"):
        a, b = np.load(os.path.join(old_dir, f)), np.load(os.path.join(new_dir, f))
        if a.shape != b.shape or np.abs(a - b).max() > 1e-12 * max(1.0, float(np.abs(b).max())):
            return False
    return True


def kept_cpu_errors(name, case, weights, old_dir, new_dir):
    """The records of the CPU kinds other than this machine's in old_dir's case.json (the committed case, copied
    before the generator rewrote it) when new_dir holds the same case (same_case); {} otherwise, with a message."""
    if old_dir is None or not os.path.exists(os.path.join(old_dir, "case.json")):
        return {}
    with open(os.path.join(old_dir, "case.json")) as f:
        old = previous_cpu_errors(json.load(f))
    others = {k: e for k, e in old.items() if k != cpu_kind()}
    if others and same_case(old_dir, new_dir, case, json.loads(json.dumps(weights))):
        return others
    if others:
        print(f"{name}: the case changed (inputs, weights or float64 arrays): dropped the errors recorded for "
              f"{', '.join(sorted(others))}; record them again on such a CPU with --record-cpu-errors")
    return {}


def merged_cpu_errors(name, case, case_json, d, model):
    """This machine's kind measured now; other kinds kept from the committed case when it is the same case."""
    by_cpu = kept_cpu_errors(name, case, case_json["weights"], os.path.join(PREVIOUS, name), d)
    by_cpu[cpu_kind()] = measure_cpu_errors(name, model, d)
    return dict(sorted(by_cpu.items()))


@contextlib.contextmanager
def previous_case(committed, name):
    """A copy of the committed case directory committed/name (None when there is none), kept while the generator
    rewrites that directory, so that kept_cpu_errors can compare with it."""
    src = os.path.join(committed, name)
    if not os.path.isdir(src):
        yield None
        return
    keep = tempfile.mkdtemp(prefix="vqrt_models_previous_")
    try:
        shutil.copytree(src, os.path.join(keep, name))
        yield os.path.join(keep, name)
    finally:
        shutil.rmtree(keep)


def check_measured_case(name, entry, lat64):
    """A record measured on committed arrays must be a rounding error: a model that does not hold the committed
    weights (a container or generator that changed) would give errors of the size of the latents."""
    scale = max(1.0, float(np.abs(lat64).max()))
    if not entry["latents_f32_vs_f64_maxabs"] <= 1e-3 * scale:
        raise SystemExit(f"{name}: the model rebuilt from the committed case is {entry['latents_f32_vs_f64_maxabs']:.3g} "
                         f"away from latents64.npy: not the committed weights (regenerate the case instead)")


def store_cpu_errors(d, name, entry, width=24):
    """Writes `entry` (measured on this machine) into d/case.json as tolerances.by_cpu[this kind], keeping every
    other kind's record and every other key (the .npy files are not touched)."""
    path = os.path.join(d, "case.json")
    with open(path) as f:
        spec = json.load(f)
    by_cpu = previous_cpu_errors(spec)
    by_cpu[cpu_kind()] = entry
    spec["tolerances"]["by_cpu"] = dict(sorted(by_cpu.items()))
    with open(path, "w") as f:
        json.dump(spec, f, indent=1)
    print(f"{name:{width}s} " + "  ".join(f"{k}: lat {e['latents_f32_vs_f64_maxabs']:.2e} "
                                          f"rec {e['recon_f32_vs_f64_maxabs']:.2e}" for k, e in by_cpu.items()),
          flush=True)


def selected_cases(only, known, extra=()):
    """The names of `known` (in its order) that --only lists, all of them without --only; a listed name that is
    neither a case nor one of `extra` is an error."""
    unknown = [n for n in only or [] if n not in known and n not in extra]
    if unknown:
        raise SystemExit(f"unknown case(s): {', '.join(unknown)}; the cases are: {', '.join(list(known) + list(extra))}")
    return [n for n in known if not only or n in only]


def record_cpu_errors(name, case):
    """Adds this machine's kind to the committed case (nothing else changes)."""
    d = os.path.join(OUT, name)
    with open(os.path.join(d, "case.json")) as f:
        spec = json.load(f)
    model = committed_model(case, d, spec)
    entry = measure_cpu_errors(name, model, d)
    check_measured_case(name, entry, np.load(os.path.join(d, "latents64.npy")))
    store_cpu_errors(d, name, entry)


def check(names):
    """Regenerates the cases into a temporary directory and compares them with the committed ones byte for byte."""
    global OUT
    tmp = tempfile.mkdtemp(prefix="vqrt_models_")
    OUT = tmp
    differ = []
    try:
        for name in names:
            run_case(name, CASES[name])
            files = set(os.listdir(os.path.join(tmp, name))) | set(os.listdir(os.path.join(COMMITTED, name)))
            for f in sorted(files):
                a, b = os.path.join(COMMITTED, name, f), os.path.join(tmp, name, f)
                if os.path.exists(a) and os.path.exists(b) and filecmp.cmp(a, b, shallow=False):
                    continue
                note = "missing on one side"
                if f.endswith(".npy") and os.path.exists(a) and os.path.exists(b):
                    x, y = np.load(a), np.load(b)
                    note = f"shape {x.shape} vs {y.shape}" if x.shape != y.shape else \
                        f"max |difference| {np.abs(x.astype(np.float64) - y.astype(np.float64)).max():.3g}"
                differ.append(f"{name}/{f} ({note})")
    finally:
        shutil.rmtree(tmp)
    for line in differ:
        print("DIFFERENT:", line)
    print(f"Fixtures/models: {len(names)} cases, " + ("identical" if not differ else f"{len(differ)} files differ"))
    return 1 if differ else 0


def main():
    global OUT, PREVIOUS
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--record-cpu-errors", action="store_true", help="add this CPU kind's PyTorch float32 error")
    ap.add_argument("--check", action="store_true", help="regenerate into a temp dir and compare with the committed")
    ap.add_argument("--threads", type=int, default=1)  # results are bitwise reproducible per thread count
    ap.add_argument("--out", default=COMMITTED, help="output directory (default Fixtures/models)")
    args = ap.parse_args()
    OUT = args.out
    PREVIOUS = COMMITTED     # where the errors recorded on other CPU kinds are kept from
    torch.set_num_threads(args.threads)
    names = selected_cases(args.only, CASES)
    if args.check:
        sys.exit(check(names))
    os.makedirs(OUT, exist_ok=True)
    for name in names:
        if args.record_cpu_errors:
            record_cpu_errors(name, CASES[name])
        elif OUT == COMMITTED:
            # Keep the committed case (and what other CPUs recorded for it) until the new one is written.
            with previous_case(COMMITTED, name) as old:
                PREVIOUS = os.path.dirname(old) if old else COMMITTED
                try:
                    run_case(name, CASES[name])
                finally:
                    PREVIOUS = COMMITTED
        else:
            run_case(name, CASES[name])


PREVIOUS = COMMITTED

if __name__ == "__main__":
    main()
