#!/usr/bin/env python3
"""Faithfulness fixtures for open-magvit2, ibq and taming-vqgan (GumbelVQ), and for taming's standard VQModel
(which loads as ldm-vqgan), computed by the UPSTREAM code itself: SEED-Voken and taming-transformers are imported
from local git mirrors at generation time (tools/upstream_families.py), never vendored.

    nice .venv-tools/bin/python tools/make_upstream_family_fixtures.py                 # every case (~25 min here)
    nice .venv-tools/bin/python tools/make_upstream_family_fixtures.py --only ibq-small presets
    nice .venv-tools/bin/python tools/make_upstream_family_fixtures.py --record-cpu-errors [--only CASE ...]
    VQRT_MIRROR=/path/to/mirrors ...                                                    # default /work/.mirror

Model cases -> Fixtures/models/<case>/, with the files and case.json fields of tools/make_model_fixtures.py
(Tests/ModelsTests/ConformanceTests.swift reads both). Small cases: tiny configurations in their real containers
(SEED-Voken: Lightning 2.2 `.ckpt` whose state_dict holds the LitEma shadows `model_ema.*`, different from the
parameters, + the LightningCLI `config.yaml`; taming: Lightning 1.0.8 `last.ckpt` + `model.yaml`). Full cases: the
released architectures with vqrt-rng-v1 weights (Swift regenerates them; not committed).

What is run is upstream's evaluation path: SEED-Voken models inside `model.ema_scope()` (evaluation_image.py),
`model.encode` for the codes, `quantize.get_codebook_entry` + `model.decode` for the decoding of codes;
GumbelQuantize with its Gumbel sample set to zero (vqrt's deterministic code; upstream draws noise even in eval).
The float64 run is the same modules after `.double()`. PyTorch's own float32-vs-float64 error is recorded for this
CPU kind in both memory formats (tolerances.by_cpu["AVX2" or "AVX512"], cpu_name.tolerances), as
make_model_fixtures.py does: a regeneration keeps the other kinds' records while the case is unchanged (inputs,
weights, float64 arrays), and `--record-cpu-errors` adds or refreshes this machine's kind on the committed model cases
(their weights and arrays) without changing anything else; run it on each CPU kind the tests must pass on.

`presets` -> Fixtures/presets/: upstream's own data pipelines (SEED-Voken Open_MAGVIT2 and IBQ `ImagePaths`,
taming `ImagePaths`, size 256) on committed photos and a synthetic card, and evaluation_image.py's output mapping
(`custom_to_pil`) and round-tripped originals.
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
import upstream_families as uf  # noqa: E402
from cpu_name import cpu_errors, cpu_kind, tolerances  # noqa: E402
from make_model_fixtures import (channels_last, check_measured_case, codes_summary, committed_case_arrays,  # noqa: E402
                                 kept_cpu_errors, npy_info, previous_case, save_case_arrays, selected_cases,
                                 skimage_path, stats, store_cpu_errors, synthetic_image, worst_float32_error)
from reference import containers  # noqa: E402
from vqrt_rng import fill_state_dict, values  # noqa: E402

MODELS = os.path.normpath(os.path.join(HERE, "..", "Fixtures", "models"))
PRESETS = os.path.normpath(os.path.join(HERE, "..", "Fixtures", "presets"))
CODEBOOK_SOURCES = ["hubble_deep_field.jpg", "ihc.png", "retina.jpg", "motorcycle_right.png"]


def dd(ch, ch_mult, num_res_blocks, z, attn=None, resolution=256):
    d = dict(double_z=False, z_channels=z, resolution=resolution, in_channels=3, out_ch=3, ch=ch,
             ch_mult=list(ch_mult), num_res_blocks=num_res_blocks)
    if attn is not None:
        d.update(attn_resolutions=list(attn), dropout=0.0)
    return d


CASES = {
    # ---------------- small: real containers, weights committed
    "open-magvit2-small": dict(
        kind="small", family="open-magvit2", q="lfq", seed=21, size=64, images=["astronaut.png", "synthetic"],
        dd=dd(32, (1, 1), 1, 18, resolution=64), ema=True, file="imagenet_256_L.ckpt",
        description="SEED-Voken lfqgan.VQModel shrunk: ch 32, ch_mult (1,1), 1 res block, z 18 = LFQ bits "
                    "(2^18 codes); Lightning 2.2 checkpoint with LitEma shadows (model_ema.*) that differ from the "
                    "parameters, LightningCLI config.yaml (use_ema: true)"),
    "ibq-small": dict(
        kind="small", family="ibq", q="ibq", seed=22, size=64, images=["chelsea.png", "synthetic"],
        dd=dd(32, (1, 1), 1, 16, attn=[32], resolution=64), n_embed=1024, embed_dim=16, ema=True,
        file="imagenet256_16384.ckpt",
        description="SEED-Voken ibqgan.IBQ shrunk: taming Encoder/Decoder ch 32, ch_mult (1,1), 1 res block, "
                    "attention at 32 + mid, z = embed_dim 16, 1024 codes; Lightning 2.2 checkpoint with LitEma "
                    "shadows (the EMA codebook is sampled from latents), LightningCLI config.yaml"),
    "taming-small": dict(
        kind="small", family="ldm-vqgan", q="vq", seed=23, size=64, images=["coffee.png", "synthetic"],
        dd=dd(32, (1, 1), 1, 8, attn=[32], resolution=64), n_embed=256, embed_dim=8, file="last.ckpt",
        description="taming-transformers VQModel (taming/models/vqgan.py, VectorQuantizer2) shrunk: ch 32, "
                    "ch_mult (1,1), 1 res block, attention at 32 + mid, z = embed_dim 8, 256 codes sampled from "
                    "latents; Lightning 1.0.8 last.ckpt + model.yaml as released; detected as ldm-vqgan"),
    "taming-gumbel-small": dict(
        kind="small", family="taming-vqgan", q="gumbel", seed=24, size=64, images=["rocket.jpg", "synthetic"],
        dd=dd(32, (1, 1), 1, 16, attn=[32], resolution=64), n_embed=512, embed_dim=16, file="last.ckpt",
        description="taming-transformers GumbelVQ shrunk: ch 32, ch_mult (1,1), 1 res block, attention at 32 + "
                    "mid, z = embed_dim 16, 512 codes (quantize.proj + quantize.embed); Lightning 1.0.8 last.ckpt "
                    "+ model.yaml; codes = noise-free argmax of the logits"),
    # ---------------- full size: vqrt-rng-v1 weights
    "open-magvit2-full-256-L": dict(
        kind="full", family="open-magvit2", q="lfq", seed=121, size=256, images=["astronaut.png"],
        dd=dd(128, (1, 1, 2, 2, 4), 4, 18, resolution=128),
        description="Open-MAGVIT2 imagenet_lfqgan_256_L (ch 128, ch_mult 1,1,2,2,4, 4 res blocks, z 18, 2^18 "
                    "codes); 256x256 input (16x16 latents), as evaluated"),
    "ibq-full-16384": dict(
        kind="full", family="ibq", q="ibq", seed=122, size=256, images=["chelsea.png"],
        dd=dd(128, (1, 1, 2, 2, 4), 4, 256, attn=[16]), n_embed=16384, embed_dim=256,
        description="IBQ imagenet_ibqgan_16384 (ch 128, ch_mult 1,1,2,2,4, 4 res blocks, attention at 16, "
                    "z = embed_dim 256, 16384 codes); 256x256 input (16x16 latents), as evaluated"),
    "taming-full-f16-1024": dict(
        kind="full", family="ldm-vqgan", q="vq", seed=123, size=128, images=["coffee.png"],
        dd=dd(128, (1, 1, 2, 2, 4), 2, 256, attn=[16]), n_embed=1024, embed_dim=256,
        description="taming VQGAN ImageNet f16-1024 (configs/imagenet_vqgan.yaml: ch 128, ch_mult 1,1,2,2,4, 2 "
                    "res blocks, attention at 16, z = embed_dim 256, 1024 codes) run by taming's VQModel; 128x128 "
                    "input (8x8 latents)"),
    "taming-gumbel-full-f8": dict(
        kind="full", family="taming-vqgan", q="gumbel", seed=124, size=256, images=["rocket.jpg"],
        dd=dd(128, (1, 1, 2, 4), 2, 256, attn=[32]), n_embed=8192, embed_dim=256,
        description="taming GumbelVQ OpenImages f8-8192 (ch 128, ch_mult 1,1,2,4, 2 res blocks, attention at 32, "
                    "z = embed_dim 256, 8192 codes); 256x256 input (32x32 latents), as evaluated"),
}

# The 8-bit preparation of each family: the upstream dataset class that its evaluation instantiates.
PIPELINES = {
    "open-magvit2": ("src.Open_MAGVIT2.data.base", "SEED-Voken src/Open_MAGVIT2/data/base.py ImagePaths "
                     "(torchvision Resize + CenterCrop, x/127.5 - 1)"),
    "ibq": ("src.IBQ.data.base", "SEED-Voken src/IBQ/data/base.py ImagePaths (albumentations 1.4.4 "
            "SmallestMaxSize + CenterCrop, x/127.5 - 1)"),
    "ldm-vqgan": ("taming.data.base", "taming-transformers taming/data/base.py ImagePaths (albumentations "
                  "SmallestMaxSize + CenterCrop, x/127.5 - 1)"),
    "taming-vqgan": ("taming.data.base", "taming-transformers taming/data/base.py ImagePaths"),
}


def image_file(source, size, tmp):
    if source == "synthetic":
        path = os.path.join(tmp, f"synthetic_{size}.png")
        from PIL import Image
        Image.fromarray(synthetic_image(size)).save(path)
        return path, "synthetic test card (make_model_fixtures.synthetic_image)"
    return skimage_path(source), f"skimage/data/{source}"


def upstream_inputs(up, family, sources, size, tmp):
    """float32 [N, 3, S, S] from the family's upstream ImagePaths at size S (its evaluation's preprocessing)."""
    mod, what = PIPELINES[family]
    paths, notes = zip(*[image_file(s, size, tmp) for s in sources])
    ds = up.module(mod).ImagePaths(list(paths), size=size)
    x = np.stack([ds[i]["image"].transpose(2, 0, 1) for i in range(len(paths))]).astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(x)), [f"{n} through {what} at {size}" for n in notes]


class Host(torch.nn.Module):
    """The bare model (no loss, no LitEma): the module tree Swift builds, named as upstream's state dict names it."""

    def __init__(self, model, names):
        super().__init__()
        for n in names:
            self.add_module(n, getattr(model, n))


def children(q):
    return ["encoder", "decoder"] if q == "lfq" else ["encoder", "decoder", "quantize", "quant_conv", "post_quant_conv"]


def build(up, case):
    q, d = case["q"], case["dd"]
    if q == "lfq":
        return up.lfqgan(d, case.get("ema", False))
    if q == "ibq":
        return up.ibq(d, case["n_embed"], case["embed_dim"], case.get("ema", False))
    if q == "gumbel":
        return up.taming_gumbel(d, case["n_embed"], case["embed_dim"])
    return up.taming_vqgan(d, case["n_embed"], case["embed_dim"])


def set_ema_shadows(model, seed):
    """LitEma shadows of the model's parameters: vqrt-rng-v1 values under another seed (so the EMA weights and the
    parameters differ everywhere); the discriminator's shadows random."""
    g = torch.Generator().manual_seed(seed)
    buffers = dict(model.model_ema.named_buffers())
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            shadow = buffers[model.model_ema.m_name2s_name[name]]
            if name.startswith("loss."):
                shadow.copy_(torch.randn(shadow.shape, generator=g) * 0.05)
            else:
                shadow.copy_(torch.from_numpy(values(name, p.shape, seed)))


def codebook_from_latents(up, case, model, n_codes, noise, seed, tmp):
    """Codebook rows sampled from the latents of other photos (+ Gaussian noise of `noise` x their std), so that
    codes spread over the data."""
    x, _ = upstream_inputs(up, case["family"], CODEBOOK_SOURCES, case["size"], tmp)
    with torch.no_grad():
        lat = uf.latents(case["q"], model, x)
    flat = lat.permute(0, 2, 3, 1).reshape(-1, lat.shape[1])
    g = torch.Generator().manual_seed(seed)
    pick = torch.randint(flat.shape[0], (n_codes,), generator=g)
    return flat[pick] + noise * flat.std() * torch.randn(n_codes, flat.shape[1], generator=g)


def ema_scope(model):
    return model.ema_scope() if getattr(model, "use_ema", False) else _Null()


class _Null:
    def __enter__(self):
        return None

    def __exit__(self, *a):
        return False


# ----------------------------------------------------------------------------------------------- containers

def save_lightning2(path, model, epoch, global_step):
    """A Lightning 2.2 ModelCheckpoint file as SEED-Voken's training writes it (LightningCLI, manual optimisation
    with two Adam optimizers): the LightningModule's state_dict (encoder, decoder, loss, quantize..., model_ema),
    loops, callbacks keyed by their state key, optimizer states (for a few parameters only, to stay small)."""
    sd = model.state_dict()
    gen = [p for n, p in model.named_parameters() if not n.startswith("loss.")]
    disc = list(model.loss.discriminator.parameters())
    ckpt = {
        "epoch": epoch, "global_step": global_step, "pytorch-lightning_version": "2.2.0", "state_dict": sd,
        "loops": {"fit_loop": {"state_dict": {}, "epoch_loop.state_dict": {"_batches_that_stepped": global_step},
                               "epoch_progress": {"total": {"ready": epoch + 1, "completed": epoch}}}},
        "callbacks": {"ModelCheckpoint{'monitor': None, 'mode': 'min', 'every_n_train_steps': 0, 'every_n_epochs': 1, "
                      "'train_time_interval': None}": {"monitor": None, "best_model_score": None,
                                                        "dirpath": "../../checkpoints/vqgan/test"},
                      "LearningRateMonitor": {"logging_interval": "step"}},
        "optimizer_states": [containers.adam_state_dict(len(gen), [(0, gen[0])], lr=1e-4),
                             containers.adam_state_dict(len(disc), [(0, disc[0])], lr=1e-4)],
        "lr_schedulers": [],
    }
    torch.save(ckpt, path)


def seed_voken_yaml(up, case, d):
    """The repository's LightningCLI config with this case's model arguments."""
    name = "configs/Open-MAGVIT2/gpu/imagenet_lfqgan_256_L.yaml" if case["q"] == "lfq" else \
        "configs/IBQ/gpu/imagenet_ibqgan_16384.yaml"
    cfg = yaml.safe_load(open(up.path(uf.SEED, name)))
    args = cfg["model"]["init_args"]
    args["ddconfig"] = case["dd"]
    if case["q"] == "lfq":
        args["n_embed"], args["embed_dim"] = 2 ** case["dd"]["z_channels"], case["dd"]["z_channels"]
    else:
        args["n_embed"], args["embed_dim"] = case["n_embed"], case["embed_dim"]
    with open(os.path.join(d, "config.yaml"), "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
    return name


def taming_yaml(up, case, d):
    cfg = yaml.safe_load(open(up.path(uf.TAMING, "configs/imagenet_vqgan.yaml")))
    p = cfg["model"]["params"]
    p["ddconfig"], p["n_embed"], p["embed_dim"] = case["dd"], case["n_embed"], case["embed_dim"]
    if case["q"] == "gumbel":
        cfg["model"]["target"] = "taming.models.vqgan.GumbelVQ"
        p["kl_weight"] = 1e-8
        p["temperature_scheduler_config"] = {
            "target": "taming.lr_scheduler.LambdaWarmUpCosineScheduler",
            "params": {"warm_up_steps": 0, "max_decay_steps": 1000001, "lr_start": 0.9, "lr_max": 0.9, "lr_min": 1e-6}}
        p["lossconfig"] = {"target": "taming.modules.losses.vqperceptual.DummyLoss"}
    with open(os.path.join(d, "model.yaml"), "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)


def write_container(up, case, model, d):
    if case["q"] in ("lfq", "ibq"):
        save_lightning2(os.path.join(d, case["file"]), model, epoch=269, global_step=1350000)
        source = seed_voken_yaml(up, case, d)
        return {"file": case["file"], "format": "lightning 2.2.0 (zip)", "state_dict": "state_dict", "prefix": None,
                "config_yaml": "config.yaml", "config_from": source,
                "ema": "model_ema.<parameter name without dots> for every trainable parameter (LitEma), plus "
                       "model_ema.decay / num_updates; they differ from the parameters and are what the "
                       "evaluation (ema_scope) and vqrt use",
                "ignored": "loss.* (stub LPIPS + discriminator), model_ema.loss* and LitEma bookkeeping, "
                           "optimizer_states, loops, callbacks"}
    sd = model.state_dict()
    gen = [p for n, p in model.named_parameters() if not n.startswith("loss.")]
    loss_params = list(model.loss.parameters())
    opt = [containers.adam_state_dict(len(gen), [(0, gen[0])], lr=4.5e-6 * 12)]
    if loss_params:
        opt.append(containers.adam_state_dict(len(loss_params), [(0, loss_params[0])], lr=4.5e-6 * 12))
    containers.save_lightning_ckpt(os.path.join(d, case["file"]), sd, epoch=12, global_step=300000,
                                   pl_version="1.0.8", optimizer_states=opt, best_score=0.0612)
    taming_yaml(up, case, d)
    return {"file": case["file"], "format": "lightning 1.0.8 (zip)", "state_dict": "state_dict", "prefix": None,
            "config_yaml": "model.yaml",
            "ignored": "loss.* (stub LPIPS + discriminator for VQModel; none for GumbelVQ's DummyLoss), "
                       "optimizer_states, callbacks (ModelCheckpoint class as dict key), lr_schedulers"}


# ----------------------------------------------------------------------------------------------- model cases

def generated_model(up, case):
    """The case's upstream model with vqrt-rng-v1 weights (the bare model's keys) and, where the case has EMA, its
    LitEma shadows, before any adjustment; and case.json's note on them."""
    torch.manual_seed(case["seed"])
    model = build(up, case)
    fill_state_dict(Host(model, children(case["q"])), case["seed"])
    origin = "vqrt-rng-v1 values as generated"
    if case.get("ema"):
        set_ema_shadows(model, case["seed"] + 1000)
        origin = (f"parameters: vqrt-rng-v1 seed {case['seed']}; LitEma shadows (used): vqrt-rng-v1 seed "
                  f"{case['seed'] + 1000} under the parameters' names")
    return model, origin


def committed_model(up, case, d):
    """The model with the committed case's weights: a small case's checkpoint (its whole state_dict, LitEma shadows
    included, loaded strictly), or a full case's vqrt-rng-v1 weights as generated_model makes them."""
    if case["kind"] == "small":
        torch.manual_seed(case["seed"])
        model = build(up, case)
        ckpt = torch.load(os.path.join(d, case["file"]), map_location="cpu", weights_only=False)
        model.load_state_dict(ckpt["state_dict"], strict=True)
    else:
        model = generated_model(up, case)[0]
    if case["q"] == "gumbel":
        up.noise_free_gumbel()
    return model


def weights_entry(case):
    """case.json's `weights`: the container file (small) or the generator and seed (full)."""
    return case["file"] if case["kind"] == "small" else {
        "generator": "vqrt-rng-v1", "seed": case["seed"],
        "names": "the bare model's state-dict keys (encoder.*, decoder.*, quantize.*, quant_conv.*, "
                 "post_quant_conv.*); each tensor's stream depends only on its own name",
        "overrides": {}}


def float32_errors(q, model, x32, codes32, lat64, rec64):
    """PyTorch's float32 error on this CPU against the float64 latents / decoding of codes32 (evaluation path:
    ema_scope), in both memory formats (different kernels): the larger of each."""
    def run(layout):
        m, xi = (model, x32) if layout == "contiguous" else channels_last(model, x32)
        with torch.no_grad(), ema_scope(m):
            return uf.latents(q, m, xi), uf.decode_codes(q, m, codes32)
    return worst_float32_error(run, lat64, rec64)


def run_case(up, name, case, tmp, previous=None):
    """Generates the case into MODELS/name; `previous`: a copy of the committed case, whose other CPU kinds' records
    are kept when the case is unchanged."""
    t0 = time.time()
    q, fam = case["q"], case["family"]
    model, origin = generated_model(up, case)
    if case["kind"] == "small" and q in ("ibq", "vq"):
        with torch.no_grad(), ema_scope(model):
            cb = codebook_from_latents(up, case, model, case["n_embed"], 0.1, case["seed"], tmp)
        with torch.no_grad():
            if q == "ibq":   # the EMA shadow is what runs
                model.model_ema.quantizeembeddingweight.copy_(cb)
            else:
                model.quantize.embedding.weight.copy_(cb)
        origin += ("; codebook" + (" (EMA shadow)" if q == "ibq" else "") + " = latents of " +
                   ", ".join(CODEBOOK_SOURCES) + f" at {case['size']}px sampled with replacement + Gaussian noise "
                   "(0.1 x latent std)")
    if q == "gumbel":
        up.noise_free_gumbel()

    x32, notes = upstream_inputs(up, fam, case["images"], case["size"], tmp)
    with torch.no_grad(), ema_scope(model):
        lat32 = uf.latents(q, model, x32)
        quant, codes32 = uf.encode(q, model, x32)
        fwd32 = model.decode(quant)                       # the evaluation's reconstruction
        rec32 = uf.decode_codes(q, model, codes32)
    m64 = copy.deepcopy(model).double()
    with torch.no_grad(), ema_scope(m64):
        lat64 = uf.latents(q, m64, x32.double())
        _, codes64 = uf.encode(q, m64, x32.double())
        rec64 = uf.decode_codes(q, m64, codes32)
        margin = uf.margins(q, m64, lat64).astype(np.float64)

    worst = float32_errors(q, model, x32, codes32, lat64, rec64)

    d = os.path.join(MODELS, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    container = write_container(up, case, model, d) if case["kind"] == "small" else None
    # Every case (full ones too): ConformanceTests compares 8-bit outputs on every convolution path.
    save_case_arrays(d, x32, lat32, lat64, codes32, margin, rec32, rec64)

    lat_max, lat_rms = stats(lat32.numpy(), lat64.numpy())
    rec_max, rec_rms = stats(rec32.numpy(), rec64.numpy())
    config = {"ddconfig": case["dd"]}
    if q == "lfq":
        config.update(n_embed=2 ** case["dd"]["z_channels"], embed_dim=case["dd"]["z_channels"])
    else:
        config.update(n_embed=case["n_embed"], embed_dim=case["embed_dim"])
    margin_units = {"lfq": "min over channels of |latent| (the bit decided by the smallest margin)",
                    "ibq": "dot product z.e (IBQ's logits)", "gumbel": "logits proj(z) (GumbelQuantize)",
                    "vq": "squared distance of VectorQuantizer2's expanded formula"}[q]
    case_json = {
        "family": fam,
        "description": case["description"],
        "config": config,
        "weights": weights_entry(case),
        "weights_origin": origin,
        "container": container,
        "upstream": {"SEED-Voken": up.commits[uf.SEED], "taming-transformers": up.commits[uf.TAMING],
                     "run": "evaluation path: ema_scope() for SEED-Voken models, model.encode for codes, "
                            "quantize.get_codebook_entry + model.decode for the decoding of codes"
                            + ("; GumbelQuantize with the Gumbel sample set to 0" if q == "gumbel" else "")},
        "input": "input.npy",
        "images": [{"index": i, "source": n} for i, n in enumerate(notes)],
        "input_mapping": "x/127.5 - 1 (float64 math, cast to float32), by the upstream ImagePaths",
        "arrays": {f: npy_info(os.path.join(d, f)) for f in sorted(os.listdir(d)) if f.endswith(".npy")},
        "latents_definition": "encoder(x) (lfqgan has no quant_conv), [N, z, h, w]" if q == "lfq"
        else "quant_conv(encoder(x)), [N, embed_dim, h, w]",
        "recon_definition": "model.decode(quantize.get_codebook_entry(codes.npy)) in model space",
        "code_margin_units": margin_units,
        "generated_on": cpu_kind(),
        "tolerances": tolerances(rec_max, worst),
        "codes": codes_summary(codes32, codes64, margin),
        "forward_vs_decode_codes_maxabs": stats(fwd32.numpy(), rec32.numpy())[0],
        "generator": "tools/make_upstream_family_fixtures.py", "torch": torch.__version__,
    }
    by_cpu = kept_cpu_errors(name, case, case_json["weights"], previous, d)
    by_cpu.update(case_json["tolerances"]["by_cpu"])
    case_json["tolerances"]["by_cpu"] = dict(sorted(by_cpu.items()))
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump(case_json, f, indent=1)
    size_kb = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)) / 1024
    print(f"{name:26s} {time.time() - t0:6.1f}s {size_kb:7.0f} KB  distinct {case_json['codes']['distinct']:5d}/"
          f"{codes32.numel():5d}  lat {lat_max:.2e} (cpu {worst['latents_f32_vs_f64_maxabs']:.2e})  rec {rec_max:.2e} "
          f"(cpu {worst['recon_f32_vs_f64_maxabs']:.2e})  mismatch {case_json['codes']['f32_vs_f64_mismatches']}  min margin "
          f"{margin.min():.1e}  fwd-vs-dec {case_json['forward_vs_decode_codes_maxabs']:.1e}", flush=True)


# ----------------------------------------------------------------------------------------------- presets

def fnv1a64(b):
    h = 0xCBF29CE484222325
    for x in b:
        h ^= x
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def make_presets(up, tmp):
    """Upstream preprocessing at 256 on committed images; the expected float32 inputs as FNV-1a hashes plus every
    31st row; evaluation_image.py's output mapping and its round-tripped originals."""
    from PIL import Image
    readme = os.path.join(PRESETS, "README.md")      # written by hand: kept
    kept = open(readme).read() if os.path.exists(readme) else None
    shutil.rmtree(PRESETS, ignore_errors=True)
    os.makedirs(PRESETS)
    if kept is not None:
        with open(readme, "w") as f:
            f.write(kept)
    sources = []

    def add(name, img, note, **save):
        img.save(os.path.join(PRESETS, name), **save)
        sources.append({"file": name, "size": list(img.size), "mode": img.mode, "source": note})

    for src, q in (("chelsea.png", 90), ("coffee.png", 88), ("astronaut.png", 92)):
        im = Image.open(skimage_path(src)).convert("RGB")
        add(src.replace(".png", ".jpg"), im, f"skimage/data/{src}, saved as JPEG quality {q}", quality=q)
    cam = Image.open(skimage_path("camera.png"))
    add("camera_gray.jpg", cam.resize((300, 260), Image.BILINEAR), "skimage camera.png (L) resized to 300x260, JPEG",
        quality=90)
    add("synthetic_300x340.png", Image.fromarray(synthetic_image(340)[:, 20:320]), "synthetic test card 340, columns 20..319")
    small = Image.open(skimage_path("rocket.jpg")).convert("RGB").resize((190, 130), Image.BILINEAR)
    add("rocket_small.png", small, "skimage rocket.jpg resized to 190x130 (upscaled by the presets)")

    cases = []
    for preset in ("open-magvit2", "ibq", "ldm-vqgan"):
        mod, what = PIPELINES[preset]
        paths = [os.path.join(PRESETS, s["file"]) for s in sources]
        ds = up.module(mod).ImagePaths(paths, size=256)
        for i, s in enumerate(sources):
            x = np.ascontiguousarray(ds[i]["image"].transpose(2, 0, 1).astype(np.float32))
            entry = {"preset": preset, "file": s["file"], "pipeline": what, "shape": list(x.shape),
                     "fnv1a64": fnv1a64(x.astype("<f4").tobytes()),
                     "rows": [[float(v) for v in x[c, r, ::17]] for c in range(3) for r in range(0, 256, 31)],
                     "row_step": 31, "column_step": 17}
            if preset != "ldm-vqgan":
                # evaluation_image.py: images = (images + 1) / 2; rgb_gt = (images * 255.0).to(uint8)   (lines 226, 240)
                t = (torch.from_numpy(x) + 1) / 2
                gt = (t * 255.0).to(torch.uint8).permute(1, 2, 0).numpy()
                entry["originals_fnv1a64"] = fnv1a64(np.ascontiguousarray(gt).tobytes())
            cases.append(entry)

    # evaluation_image.py custom_to_pil (clamp(-1, 1), (x + 1) / 2, (255 * x).astype(np.uint8)) and the inline
    # mapping of its PSNR code (clamp(-1, 1), (x + 1) / 2, (x * 255.0).to(torch.uint8)).
    custom_to_pil = up.function_from(uf.SEED, "evaluation_image.py", "custom_to_pil",
                                     {"torch": torch, "np": np, "Image": Image})
    rng = np.random.default_rng(5)
    v = rng.uniform(-1.3, 1.3, size=(3, 9, 11)).astype(np.float32)
    edges = np.array([-1.0, 1.0, 0.0, -0.99999994, 0.99999994, 1.0000001, -1.0000001], dtype=np.float32)
    v.flat[:len(edges)] = edges
    k = np.arange(256, dtype=np.float32)
    near = np.concatenate([(k / 127.5 - 1), np.nextafter(k / 127.5 - 1, 2), np.nextafter(k / 127.5 - 1, -2)]).astype(np.float32)
    v.flat[len(edges):len(edges) + 200] = near[rng.choice(near.size, 200, replace=False)]
    pil = np.asarray(custom_to_pil(torch.from_numpy(v)))
    inline = ((torch.from_numpy(v).clamp(-1, 1) + 1) / 2 * 255.0).to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.array_equal(pil, inline)
    np.save(os.path.join(PRESETS, "mapping_in.npy"), v)
    np.save(os.path.join(PRESETS, "mapping_out.npy"), pil)
    manifest = {"generator": "tools/make_upstream_family_fixtures.py --only presets",
                "upstream": {"SEED-Voken": up.commits[uf.SEED], "taming-transformers": up.commits[uf.TAMING]},
                "versions": {"torch": torch.__version__, "torchvision": __import__("torchvision").__version__,
                             "pillow": Image.__version__, "albumentations": __import__("albumentations").__version__,
                             "opencv": __import__("cv2").__version__, "numpy": np.__version__},
                "sources": sources, "cases": cases,
                "mapping": {"input": "mapping_in.npy", "expected_hwc": "mapping_out.npy",
                            "upstream": "evaluation_image.py custom_to_pil (== the PSNR code's inline mapping)"}}
    with open(os.path.join(PRESETS, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"presets: {len(cases)} cases, {len(sources)} images", flush=True)


def record_cpu_errors(up, name, case):
    """Adds (or refreshes) this machine's CPU kind in the committed case's tolerances.by_cpu, measured as run_case
    measures it on the committed input, codes and float64 arrays with the committed weights; nothing else changes."""
    d = os.path.join(MODELS, name)
    with open(os.path.join(d, "case.json")) as f:
        spec = json.load(f)
    if spec["weights"] != json.loads(json.dumps(weights_entry(case))):
        raise SystemExit(f"{name}: case.json's weights are not what this generator builds: regenerate the case")
    made_from = {r: spec["upstream"].get(r.split("+")[1]) for r in (uf.SEED, uf.TAMING)}
    if made_from != up.commits:
        print(f"warning: {name} was made from upstream {made_from}, the mirrors are at {up.commits}")
    model = committed_model(up, case, d)
    x32, codes32, lat64, rec64 = committed_case_arrays(d)
    entry = cpu_errors(float32_errors(case["q"], model, x32, codes32, lat64, rec64))
    check_measured_case(name, entry, lat64)
    store_cpu_errors(d, name, entry, width=26)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", help="cases (and/or `presets`); default all")
    ap.add_argument("--record-cpu-errors", action="store_true",
                    help="add this CPU kind's PyTorch float32 error to the committed model cases (nothing else "
                         "changes; presets are not made)")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    if a.record_cpu_errors and "presets" in (a.only or []):
        raise SystemExit("--record-cpu-errors: presets have no CPU errors (name model cases only)")
    names = selected_cases(a.only, CASES, extra=() if a.record_cpu_errors else ("presets",))
    torch.set_num_threads(a.threads)
    up = uf.Upstream()
    if a.record_cpu_errors:
        for name in names:
            record_cpu_errors(up, name, CASES[name])
        return
    import tempfile
    tmp = tempfile.mkdtemp(prefix="vqrt_fixture_images_")
    for name in names:
        # Keep the committed case (and what other CPU kinds recorded for it) until the new one is written.
        with previous_case(MODELS, name) as old:
            run_case(up, name, CASES[name], tmp, old)
    if not a.only or "presets" in a.only:
        make_presets(up, tmp)


if __name__ == "__main__":
    main()
