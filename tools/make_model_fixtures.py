#!/usr/bin/env python3
"""Model faithfulness fixtures (contract C5) -> Fixtures/models/<case>/.

Command line (deterministic: bitwise reproducible with the default --threads 1; ~3 min):
    nice .venv-tools/bin/python tools/make_model_fixtures.py              # all cases
    nice .venv-tools/bin/python tools/make_model_fixtures.py --only ldm-small vit-full-small

SMALL cases: tiny configurations in their real upstream containers, weights committed (generated with vqrt-rng-v1,
then the codebook / a bias adjusted as described in case.json, and saved in the container).
FULL cases: the released architectures with vqrt-rng-v1 weights (NOT committed: Swift regenerates them from the
seed, applying the listed `overrides`); only inputs and PyTorch outputs are committed.

Per case: input.npy (float32 [N,3,H,W], model input space), latents.npy / latents64.npy (float32 / float64; what
the quantizer receives: [N,C,h,w] for conv models, [N,T,C] for vit), codes.npy (int64 [N,h,w], float32 run),
recon.npy (float32 decode of codes.npy; small cases only), recon64.npy (float64 decode of THE SAME codes;
vit-full-small stores it rounded to float32 to stay < 3 MB), code_margin.npy (float64 [N,h,w], |best - second|
of the float64 quantizer scores, in the quantizer's own units), case.json (config, weights, tolerances, notes).
    nice .venv-tools/bin/python tools/make_model_fixtures.py --record-cpu-errors   # see below

Tolerances are PyTorch's own float32-vs-float64 max-abs / RMS errors; Swift (float32) should land within a small
multiple (4x) of them against the *64 arrays, and its codes must equal codes.npy wherever code_margin >= 1e-5.
PyTorch's float32 error depends on the CPU kernels it runs (AVX2 convolutions accumulate in another order than
AVX-512 ones). `--record-cpu-errors` runs every committed case's weights and inputs through PyTorch in float32 on
this machine, in both memory formats (contiguous and channels_last: different kernels), compares with the committed
float64 arrays and records the larger error under tolerances.by_cpu[<capability (processor)>]; the tests derive
their tolerance from the largest error recorded for the case. Nothing else in the case changes.
"""
import argparse
import copy
import json
import os
import shutil
import sys
import time

import numpy as np
import torch
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from reference import containers, ldm_vqgan, presets, rt_vqvae, vit_vqgan  # noqa: E402
from cpu_name import cpu_name  # noqa: E402
from vqrt_rng import fill_state_dict  # noqa: E402

OUT = os.path.join(HERE, "..", "Fixtures", "models")
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
    std), so codes are spread over the data instead of all collapsing onto a few."""
    xs = np.stack([presets.to_input(family, prepare(family, s, size)[0]) for s in CODEBOOK_SOURCES])
    with torch.no_grad():
        lat = model.encode_to_prequant(torch.from_numpy(xs))
    flat = lat.reshape(-1, lat.shape[-1]) if family == "vit-vqgan" else lat.permute(0, 2, 3, 1).reshape(-1, lat.shape[1])
    g = torch.Generator().manual_seed(seed)
    pick = torch.randint(flat.shape[0], (n_codes,), generator=g)
    return flat[pick] + noise * flat.std() * torch.randn(n_codes, flat.shape[1], generator=g)


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
        kind="small", family="ldm-vqgan", seed=11, size=32, images=["astronaut.png", "synthetic"],
        build=lambda: ldm_vqgan.build(ldm_small_cfg()), config=ldm_small_cfg,
        container="ldm", file="model.ckpt",
        description="latent-diffusion VQModel, ch 32, ch_mult (1,1), 1 res block, attention at 16 (down.1/up.1) + "
                    "mid, z=embed 4, 64 codes; Lightning 1.4.2 checkpoint with loss.* weights, optimizer states and a "
                    "ModelCheckpoint callback keyed by its class; config.yaml beside it"),
    "rt-small-cosine": dict(
        kind="small", family="rt-vqvae", seed=12, size=32, images=["chelsea.png", "synthetic"],
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
        kind="full", family="rt-vqvae", seed=103, size=64, images=["coffee.png"],
        build=lambda: rt_vqvae.build(4, "cosine"), codebook="cosine", f=4,
        description="Table 1 f=4 cosine (ch_mult 1,2,4, z 3, no projections, 8192 codes); 64x64 input (16x16)"),
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
        kind="full", family="ldm-vqgan", seed=106, size=64, images=["synthetic"],
        build=lambda: ldm_vqgan.build("table3-64x64x3"), config=lambda: ldm_vqgan.CONFIGS["table3-64x64x3"],
        description="rotation_trick Table 3 64x64x3 = vq-f4 layout (ch_mult 1,2,4, mid attention only, 8192 codes "
                    "of dim 3); 64x64 synthetic input (16x16 latents)"),
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
            lat = model.encode_to_prequant(x32)
            model.pre_quant.bias.copy_(model.pre_quant.bias - lat.mean(dim=(0, 1)))
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
    np.save(os.path.join(d, "input.npy"), x32.numpy().astype(np.float32))
    np.save(os.path.join(d, "latents.npy"), lat32.numpy().astype(np.float32))
    np.save(os.path.join(d, "latents64.npy"), lat64.numpy().astype(np.float64))
    np.save(os.path.join(d, "codes.npy"), codes32.numpy().astype(np.int64))
    np.save(os.path.join(d, "code_margin.npy"), margin)
    rec64_dtype = np.float64
    if case["kind"] == "small":
        np.save(os.path.join(d, "recon.npy"), rec32.numpy().astype(np.float32))
    elif fam == "vit-vqgan":
        rec64_dtype = np.float32        # 256x256: keep the case under 3 MB
    np.save(os.path.join(d, "recon64.npy"), rec64.numpy().astype(rec64_dtype))

    lat_max, lat_rms = stats(lat32.numpy(), lat64.numpy())
    rec_max, rec_rms = stats(rec32.numpy(), rec64.numpy())
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
        "tolerances": {"latents_f32_vs_f64_maxabs": lat_max, "latents_f32_vs_f64_rms": lat_rms,
                       "recon_f32_vs_f64_maxabs": rec_max, "recon_f32_vs_f64_rms": rec_rms,
                       "suggested_factor": 4,
                       "codes": "must equal codes.npy wherever code_margin >= 1e-5"},
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
    if case["kind"] == "full":
        case_json["arrays_note"] = (case_json.get("arrays_note", "") + " recon.npy (float32) is not stored for full "
                                    "cases; its error vs recon64 is in tolerances.").strip()
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


def record_cpu_errors(name, case):
    d = os.path.join(OUT, name)
    with open(os.path.join(d, "case.json")) as f:
        spec = json.load(f)
    model = committed_model(case, d, spec)
    x = torch.from_numpy(np.load(os.path.join(d, "input.npy")))
    codes = torch.from_numpy(np.load(os.path.join(d, "codes.npy")))
    lat64, rec64 = np.load(os.path.join(d, "latents64.npy")), np.load(os.path.join(d, "recon64.npy"))
    worst = {"latents_f32_vs_f64_maxabs": 0.0, "latents_f32_vs_f64_rms": 0.0,
             "recon_f32_vs_f64_maxabs": 0.0, "recon_f32_vs_f64_rms": 0.0}
    for layout in ("contiguous", "channels_last"):
        m, xi = model, x
        if layout == "channels_last":
            m, xi = copy.deepcopy(model).to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            lat32, codes32 = m.encode(xi)
            rec32 = m.decode_codes(codes)
        if not torch.equal(codes32.reshape(codes.shape), codes):
            print(f"{name}: {int((codes32.reshape(codes.shape) != codes).sum())} codes differ from codes.npy ({layout})")
        for what, a, b in (("latents", lat32, lat64), ("recon", rec32, rec64)):
            mx, rms = stats(a.contiguous().numpy(), b)
            worst[f"{what}_f32_vs_f64_maxabs"] = max(worst[f"{what}_f32_vs_f64_maxabs"], mx)
            worst[f"{what}_f32_vs_f64_rms"] = max(worst[f"{what}_f32_vs_f64_rms"], rms)
    tol = spec["tolerances"]
    by_cpu = tol.setdefault("by_cpu", {"AVX512 (Intel Xeon that generated the fixtures; contiguous only)":
                                       {k: tol[k] for k in worst}})
    by_cpu[cpu_name()] = worst
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump(spec, f, indent=1)
    print(f"{name:24s} " + "  ".join(f"{k}: lat {e['latents_f32_vs_f64_maxabs']:.2e} rec {e['recon_f32_vs_f64_maxabs']:.2e}"
                                     for k, e in by_cpu.items()), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--record-cpu-errors", action="store_true", help="add this CPU's PyTorch float32 error (docstring)")
    ap.add_argument("--threads", type=int, default=1)  # results are bitwise reproducible per thread count
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(OUT, exist_ok=True)
    for name, case in CASES.items():
        if args.only and name not in args.only:
            continue
        if args.record_cpu_errors:
            record_cpu_errors(name, case)
        else:
            run_case(name, case)


if __name__ == "__main__":
    main()
