#!/usr/bin/env python3
"""Faithfulness fixtures for the llamagen-vq and maskgit-vqgan families, computed by the UPSTREAM code itself ->
Fixtures/models/<case>/ (the layout of tools/make_model_fixtures.py; Fixtures/models/README.md).

    nice .venv-tools/bin/python tools/make_upstream_model_fixtures.py [--mirror /work/.mirror] [--only CASE ...]
    nice .venv-tools/bin/python tools/make_upstream_model_fixtures.py --record-cpu-errors [--only CASE ...]

The upstream modules are imported from git mirrors made with the search tool's `fetch` (never committed here):
  FoundationVision/LlamaGen   tokenizer/tokenizer_image/vq_model.py, vq_model_hf.py (VQModelHF.save_pretrained,
                              needs huggingface_hub), dataset/augmentation.py (center_crop_arr)
  bytedance/1d-tokenizer      modeling/modules/maskgit_vqgan.py, modeling/titok.py (PretrainedTokenizer, loaded with
                              the TiTok-only imports stubbed), data/webdataset_reader.py (ImageTransform)
Every case records the mirror commits it was made from.

Cases: small configurations in their real containers (weights committed) and the released full-size architectures
with vqrt-rng-v1 weights (not committed; Swift regenerates them from the seed). Inputs go through the family's
upstream preprocessing at the case size (LlamaGen `center_crop_arr(img, S)` + ToTensor + Normalize(0.5, 0.5);
1d-tokenizer `ImageTransform(S, S).eval_transform`), all sizes >= 64 so that the first 3x3 convolutions have
outputs of 64x64 or more (vqrt's Winograd path).

Per case: input.npy, latents.npy / latents64.npy (what the quantizer receives: LlamaGen quant_conv(encoder(x)),
MaskGIT encoder(x); float32 run / float64 run of the same weights and input), codes.npy (int64 [N, h, w], upstream's
flat row-major codes reshaped), code_margin.npy (float64 |best - second| of the upstream distance formula on the
float64 latents), recon.npy / recon64.npy (upstream decode of codes.npy: `decode_code` / `decoder(get_codebook_entry)`,
before any clamp, float32 / float64), case.json. Tolerances: PyTorch's own float32-vs-float64 error on this CPU,
measured in both memory formats (contiguous, channels_last), the larger recorded under tolerances.by_cpu[cpu kind]
("AVX2" or "AVX512", cpu_name.tolerances: the scheme ConformanceTests reads). A regeneration keeps the other kinds'
records while the case is unchanged (inputs, weights, float64 arrays); `--record-cpu-errors` adds or refreshes this
machine's kind on the committed cases (their weights and arrays) and changes nothing else: run it on each CPU kind,
as for tools/make_model_fixtures.py. Deterministic with --threads 1 (the default).
"""
import argparse
import copy
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import types
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from cpu_name import cpu_errors, cpu_kind, tolerances  # noqa: E402
from make_imaging_fixtures import upstream_modules  # noqa: E402
from make_model_fixtures import (channels_last, check_measured_case, codes_summary, committed_case_arrays,  # noqa: E402
                                 kept_cpu_errors, npy_info, previous_case, save_case_arrays, selected_cases,
                                 skimage_path, stats, store_cpu_errors, synthetic_image, worst_float32_error)
from vqrt_rng import fill_state_dict  # noqa: E402

OUT = os.path.normpath(os.path.join(HERE, "..", "Fixtures", "models"))
CODEBOOK_SOURCES = ["hubble_deep_field.jpg", "ihc.png", "retina.jpg", "motorcycle_right.png"]
UP = {}   # filled by load_upstream()


def git(mirror, repo, *args):
    return subprocess.check_output(["git", "-C", os.path.join(mirror, repo, "repo")] + list(args))


def load_upstream(mirror):
    """Import the upstream modules from the mirrors into a temporary tree (module names as upstream has them)."""
    src = tempfile.mkdtemp(prefix="vqrt_upstream_models_")
    files = {
        "FoundationVision+LlamaGen": ["tokenizer/tokenizer_image/vq_model.py", "tokenizer/tokenizer_image/vq_model_hf.py"],
        "bytedance+1d-tokenizer": ["modeling/modules/maskgit_vqgan.py", "modeling/titok.py"],
    }
    commits = {}
    for repo, paths in files.items():
        commits[repo.replace("+", "/")] = git(mirror, repo, "rev-parse", "HEAD").decode().strip()
        for p in paths:
            dst = os.path.join(src, p)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            with open(dst, "wb") as f:
                f.write(git(mirror, repo, "show", "HEAD:" + p))
    sys.path.insert(0, src)

    def stub(name, **attrs):
        m = types.ModuleType(name)
        m.__dict__.update(attrs)
        m.__path__ = []
        sys.modules[name] = m
        return m

    def load(name, path):
        spec = importlib.util.spec_from_file_location(name, os.path.join(src, path))
        m = importlib.util.module_from_spec(spec)
        sys.modules[name] = m
        spec.loader.exec_module(m)
        return m

    for p in ("tokenizer", "tokenizer.tokenizer_image", "modeling", "modeling.modules", "modeling.quantizer"):
        stub(p)
    UP["vq_model"] = load("tokenizer.tokenizer_image.vq_model", "tokenizer/tokenizer_image/vq_model.py")
    UP["vq_model_hf"] = load("tokenizer.tokenizer_image.vq_model_hf", "tokenizer/tokenizer_image/vq_model_hf.py")
    UP["maskgit_vqgan"] = load("modeling.modules.maskgit_vqgan", "modeling/modules/maskgit_vqgan.py")
    # titok.py's TiTok-only imports (the ViT blocks, its own quantizer) are not needed by PretrainedTokenizer.
    stub("modeling.modules.base_model", BaseModel=torch.nn.Module)
    stub("modeling.modules.blocks", TiTokEncoder=None, TiTokDecoder=None)
    stub("modeling.quantizer.quantizer", VectorQuantizer=None, DiagonalGaussianDistribution=None)
    UP["titok"] = load("modeling.titok", "modeling/titok.py")
    mods = upstream_modules(mirror)
    UP["augmentation"] = mods["llamagen_augmentation"][0]
    UP["webdataset_reader"] = mods["titok_webdataset_reader"][0]
    UP["commits"] = commits


# ----------------------------------------------------------------------------------------------- models

def llamagen_model(ch=128, ch_mult=(1, 1, 2, 2, 4), num_res_blocks=2, z_channels=256, codebook_size=16384,
                   codebook_embed_dim=8, l2_norm=True, hf=False):
    """vq_model.VQModel(ModelArgs(...)) (or VQModelHF). ModelArgs has no `ch` / `num_res_blocks` (the Encoder and
    Decoder defaults, 128 and 2, always apply upstream); a small configuration swaps in upstream Encoder / Decoder
    modules built with other values (same attribute names, so the same keys)."""
    vm = UP["vq_model"]
    cls = UP["vq_model_hf"].VQModelHF if hf else vm.VQModel
    args = vm.ModelArgs(codebook_size=codebook_size, codebook_embed_dim=codebook_embed_dim, codebook_l2_norm=l2_norm,
                        encoder_ch_mult=list(ch_mult), decoder_ch_mult=list(ch_mult), z_channels=z_channels)
    m = cls(args)
    if ch != 128 or num_res_blocks != 2:
        m.encoder = vm.Encoder(ch=ch, ch_mult=ch_mult, num_res_blocks=num_res_blocks, z_channels=z_channels)
        m.decoder = vm.Decoder(z_channels=z_channels, ch=ch, ch_mult=ch_mult, num_res_blocks=num_res_blocks)
    return m.eval()


def maskgit_conf(hidden=128, channel_mult=(1, 1, 2, 2, 4), num_res_blocks=2, z_channels=256):
    from omegaconf import OmegaConf
    return OmegaConf.create({"channel_mult": list(channel_mult), "num_resolutions": len(channel_mult), "dropout": 0.0,
                             "hidden_channels": hidden, "num_channels": 3, "num_res_blocks": num_res_blocks,
                             "resolution": 256, "z_channels": z_channels})


class MaskGITTokenizer(torch.nn.Module):
    """titok.PretrainedTokenizer's module tree (encoder / decoder / quantize, the upstream classes) for any config;
    PretrainedTokenizer itself hard-codes the f16 config and loads a file, which full-size cases use as is."""

    def __init__(self, conf, num_embeddings):
        super().__init__()
        mg = UP["maskgit_vqgan"]
        self.encoder = mg.Encoder(conf)
        self.decoder = mg.Decoder(conf)
        self.quantize = mg.VectorQuantizer(num_embeddings=num_embeddings, embedding_dim=conf.z_channels, commitment_cost=0.25)


# Uniform per-family operations on an upstream model: (latents, codes [N, h, w]) from upstream's own encode (the
# latents, which it does not return, are caught on their way into the quantizer), and the decode of codes.
def encode(fam, m, x):
    caught = []
    hook = m.quantize.register_forward_pre_hook(lambda module, args: caught.append(args[0]))
    try:
        if fam == "llamagen-vq":
            _, _, (_, _, codes) = m.encode(x)                          # vq_model.VQModel.encode: flat codes
        else:
            codes = UP["titok"].PretrainedTokenizer.encode(m, x)        # [N, h*w]
    finally:
        hook.remove()
    h = caught[0]
    return h, codes.reshape(h.shape[0], h.shape[2], h.shape[3])


def decode(fam, m, codes):
    n, hh, ww = codes.shape
    if fam == "llamagen-vq":
        return m.decode_code(codes.reshape(-1), (n, m.quantize.e_dim, hh, ww))
    # PretrainedTokenizer.decode minus its final clamp to [0, 1] (the preset's output mapping applies it).
    return m.decoder(m.quantize.get_codebook_entry(codes.reshape(n, hh * ww)))


def margins(fam, m64, lat64):
    """|best - second| of the upstream distances, float64."""
    if fam == "llamagen-vq":
        z = F.normalize(lat64.permute(0, 2, 3, 1).reshape(-1, m64.quantize.e_dim), p=2, dim=-1)
        e = F.normalize(m64.quantize.embedding.weight, p=2, dim=-1) if m64.quantize.l2_norm else m64.quantize.embedding.weight
        if not m64.quantize.l2_norm:
            z = lat64.permute(0, 2, 3, 1).reshape(-1, m64.quantize.e_dim)
        d = torch.sum(z ** 2, dim=1, keepdim=True) + torch.sum(e ** 2, dim=1) - 2 * z @ e.t()
    else:
        d = m64.quantize.compute_distances(lat64.permute(0, 2, 3, 1).contiguous())
    s = torch.sort(d, dim=1).values
    return (s[:, 1] - s[:, 0]).reshape(lat64.shape[0], lat64.shape[2], lat64.shape[3]).numpy().astype(np.float64)


# ----------------------------------------------------------------------------------------------- inputs

def preprocess(fam, image, size):
    """The family's upstream eval preprocessing at `size`: float32 [3, size, size]."""
    from PIL import Image
    import torchvision.transforms as T
    if fam == "llamagen-vq":
        t = T.Compose([T.Lambda(lambda im: UP["augmentation"].center_crop_arr(im, size)), T.ToTensor(),
                       T.Normalize(mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5], inplace=True)])
    else:
        t = UP["webdataset_reader"].ImageTransform(resize_shorter_edge=size, crop_size=size, random_crop=False,
                                                   random_flip=False).eval_transform
    return t(Image.fromarray(image))


def load_image(source, size):
    from PIL import Image
    if source == "synthetic":
        return synthetic_image(size), f"synthetic test card (make_model_fixtures.synthetic_image({size}))"
    return np.asarray(Image.open(skimage_path(source)).convert("RGB")), f"skimage/data/{source}"


def codebook_from_latents(fam, m, size, n_codes, noise, seed):
    """Codebook rows sampled from the latents of CODEBOOK_SOURCES (+ Gaussian noise of `noise` x their std), so that
    a small Euclidean codebook is used by more than a handful of positions."""
    xs = torch.stack([preprocess(fam, load_image(s, size)[0], size) for s in CODEBOOK_SOURCES])
    with torch.no_grad():
        lat = encode(fam, m, xs)[0]
    flat = lat.permute(0, 2, 3, 1).reshape(-1, lat.shape[1])
    g = torch.Generator().manual_seed(seed)
    pick = torch.randint(flat.shape[0], (n_codes,), generator=g)
    return flat[pick] + noise * flat.std() * torch.randn(n_codes, flat.shape[1], generator=g)


# ----------------------------------------------------------------------------------------------- containers

def llamagen_training_checkpoint(path, model, ema, seed):
    """vq_train.py's checkpoint dict: model, optimizer (Adam), discriminator, optimizer_disc, steps, args, ema."""
    import argparse
    g = torch.Generator().manual_seed(seed)
    few = [model.quantize.embedding.weight, model.encoder.conv_in.weight]
    opt = torch.optim.Adam(few, lr=1e-4, betas=(0.9, 0.95))
    for p in few:
        p.grad = 1e-3 * torch.randn(p.shape, generator=g)
    opt.step()
    opt.zero_grad(set_to_none=True)
    # A stand-in for the PatchGAN discriminator (key layout of its first layers only).
    disc = torch.nn.Sequential(OrderedDict([("main", torch.nn.Sequential(torch.nn.Conv2d(3, 8, 4, 2, 1),
                                                                          torch.nn.LeakyReLU(0.2),
                                                                          torch.nn.Conv2d(8, 16, 4, 2, 1, bias=False),
                                                                          torch.nn.BatchNorm2d(16)))]))
    opt_disc = torch.optim.Adam(disc.parameters(), lr=1e-4, betas=(0.9, 0.95))
    args = argparse.Namespace(
        data_path="/data/imagenet/train", data_face_path=None, cloud_save_path="/cloud", no_local_save=False,
        vq_model="VQ-16", vq_ckpt=None, finetune=False, ema=True, codebook_size=model.quantize.n_e,
        codebook_embed_dim=model.quantize.e_dim, codebook_l2_norm=True, codebook_weight=1.0,
        entropy_loss_ratio=0.0, commit_loss_beta=0.25, reconstruction_weight=1.0, reconstruction_loss="l2",
        perceptual_weight=1.0, disc_weight=0.5, disc_start=20000, disc_type="patchgan", disc_loss="hinge",
        gen_loss="hinge", compile=False, dropout_p=0.0, results_dir="results_tokenizer_image", dataset="imagenet",
        image_size=256, epochs=40, lr=1e-4, weight_decay=5e-2, beta1=0.9, beta2=0.95, max_grad_norm=1.0,
        global_batch_size=128, global_seed=0, num_workers=16, log_every=100, ckpt_every=5000,
        gradient_accumulation_steps=1, mixed_precision="bf16", rank=0, world_size=8, gpu=0, dist_url="env://",
        distributed=True, dist_backend="nccl")
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "discriminator": disc.state_dict(),
                "optimizer_disc": opt_disc.state_dict(), "steps": 25000, "args": args, "ema": ema.state_dict()}, path)
    return {"format": "torch.save dict (zip) of vq_train.py: model, optimizer (Adam state for 2 params), "
                      "discriminator (stub keys), optimizer_disc, steps, args (argparse.Namespace), ema",
            "state_dict": "ema (reconstruction_vq_ddp.py / vq_demo.py take ema, then model, then state_dict)",
            "args": {k: v for k, v in vars(args).items() if not isinstance(v, (list, dict))}}


def maskgit_open_muse_config(conf, num_embeddings):
    """open-muse `MaskGitVQGAN`'s config.json (ConfigMixin: sorted keys, _class_name, _version)."""
    return {"_class_name": "MaskGitVQGAN", "_version": "0.0.1", "attn_resolutions": [16],
            "channel_mult": list(conf.channel_mult), "commitment_cost": 0.25, "dropout": 0.0,
            "hidden_channels": conf.hidden_channels, "num_channels": conf.num_channels,
            "num_embeddings": num_embeddings, "num_res_blocks": conf.num_res_blocks,
            "quantized_embed_dim": conf.z_channels, "resample_with_conv": True, "resolution": 256,
            "z_channels": conf.z_channels}


# ----------------------------------------------------------------------------------------------- cases

CASES = {
    "llamagen-small": dict(
        kind="small", family="llamagen-vq", seed=21, size=64, images=["chelsea.png", "synthetic"],
        build=lambda: llamagen_model(ch=32, ch_mult=(1, 1), num_res_blocks=1, z_channels=32, codebook_size=64),
        container="llamagen-pt", file="0025000.pt",
        description="LlamaGen VQModel shrunk (upstream Encoder/Decoder with ch 32, ch_mult (1, 1), 1 res block, "
                    "attention at the lowest level + mid; z 32 -> quant_conv -> 8; 64 l2-normalised codes); "
                    "vq_train.py's checkpoint with model, ema (different weights: evaluation uses ema), "
                    "optimizer, discriminator, args"),
    "llamagen-hf-small": dict(
        kind="small", family="llamagen-vq", seed=22, size=64, images=["coffee.png", "synthetic"],
        build=lambda: llamagen_model(ch=32, ch_mult=(1, 1), num_res_blocks=1, z_channels=32, codebook_size=64,
                                     l2_norm=False, hf=True),
        container="llamagen-hf", file="model.safetensors", euclidean_codebook=True,
        description="LlamaGen VQModelHF shrunk like llamagen-small, codebook_l2_norm False (only config.json says "
                    "so: plain Euclidean lookup on raw latents and codes); VQModelHF.save_pretrained layout "
                    "(model.safetensors + config.json)"),
    "maskgit-small": dict(
        kind="small", family="maskgit-vqgan", seed=23, size=64, images=["astronaut.png", "synthetic"],
        conf=lambda: maskgit_conf(hidden=32, channel_mult=(1, 2), num_res_blocks=1, z_channels=32), n_embed=64,
        container="maskgit-bin", file="maskgit-vqgan-small.bin", euclidean_codebook=True,
        description="MaskGIT-VQGAN (1d-tokenizer maskgit_vqgan.py) shrunk: hidden 32, channel_mult (1, 2), 1 res "
                    "block (nin_shortcut on conv2's output where channels change), avg-pool down, z 32, 64 codes; "
                    "a plain torch.save(state_dict) like maskgit-vqgan-imagenet-f16-256.bin"),
    "maskgit-hf-small": dict(
        kind="small", family="maskgit-vqgan", seed=24, size=64, images=["rocket.jpg", "synthetic"],
        conf=lambda: maskgit_conf(hidden=32, channel_mult=(1, 1), num_res_blocks=2, z_channels=32), n_embed=64,
        container="maskgit-hf", file="model.safetensors", euclidean_codebook=True,
        description="MaskGIT-VQGAN shrunk: hidden 32, channel_mult (1, 1), 2 res blocks, z 32, 64 codes; "
                    "Hugging Face layout of open-muse's MaskGitVQGAN (model.safetensors + config.json)"),
    "llamagen-full-vq16": dict(
        kind="full", family="llamagen-vq", seed=121, size=256, images=["astronaut.png"],
        build=lambda: UP["vq_model"].VQ_models["VQ-16"](codebook_size=16384, codebook_embed_dim=8).eval(),
        description="LlamaGen VQ-16 as released (ch 128, ch_mult 1,1,2,2,4, attention at the lowest level, z 256 "
                    "-> 8, 16384 l2-normalised codes); 256x256 input (16x16 latents), as evaluated"),
    "llamagen-full-vq8": dict(
        kind="full", family="llamagen-vq", seed=122, size=128, images=["motorcycle_left.png"],
        build=lambda: UP["vq_model"].VQ_models["VQ-8"](codebook_size=16384, codebook_embed_dim=8).eval(),
        description="LlamaGen VQ-8 as released (ch_mult 1,2,2,4); 128x128 input (16x16 latents)"),
    "maskgit-full-f16": dict(
        kind="full", family="maskgit-vqgan", seed=123, size=256, images=["coffee.png"],
        conf=lambda: maskgit_conf(), n_embed=1024, pretrained_tokenizer=True,
        description="MaskGIT-VQGAN f16 as released (titok.PretrainedTokenizer's config: hidden 128, channel_mult "
                    "1,1,2,2,4, 2 res blocks, z 256, 1024 codes), built by PretrainedTokenizer from a state dict "
                    "file (strict load); 256x256 input (16x16 latents), as evaluated"),
}


def build(case):
    if case["family"] == "llamagen-vq":
        return case["build"]()
    return MaskGITTokenizer(case["conf"](), case["n_embed"]).eval()


def config_of(case, m):
    if case["family"] == "llamagen-vq":
        enc = m.encoder
        return {"ch": enc.conv_in.out_channels, "encoder_ch_mult": list(m.config.encoder_ch_mult),
                "decoder_ch_mult": list(m.config.decoder_ch_mult), "num_res_blocks": enc.num_res_blocks,
                "z_channels": m.config.z_channels, "codebook_size": m.config.codebook_size,
                "codebook_embed_dim": m.config.codebook_embed_dim, "codebook_l2_norm": m.config.codebook_l2_norm}
    c = case["conf"]()
    return {"hidden_channels": c.hidden_channels, "channel_mult": list(c.channel_mult),
            "num_res_blocks": c.num_res_blocks, "z_channels": c.z_channels, "num_channels": c.num_channels,
            "num_embeddings": case["n_embed"]}


def write_container(case, m, d):
    fam = case["family"]
    path = os.path.join(d, case["file"])
    if case["container"] == "llamagen-pt":
        # The training model differs from its EMA; upstream's evaluation loads "ema". Fixture outputs come from the
        # EMA weights (which `m` holds); the "model" entry gets perturbed copies.
        raw = copy.deepcopy(m)
        with torch.no_grad():
            g = torch.Generator().manual_seed(case["seed"] + 1000)
            for t in raw.state_dict().values():
                if t.dtype.is_floating_point:
                    t.add_(0.05 * t.abs().mean() * torch.randn(t.shape, generator=g))
        info = llamagen_training_checkpoint(path, raw, m, case["seed"])
    elif case["container"] == "llamagen-hf":
        m.save_pretrained(d)                                   # VQModelHF (PyTorchModelHubMixin)
        info = {"format": "VQModelHF.save_pretrained: model.safetensors + config.json (ModelArgs fields)",
                "state_dict": "<root>", "config_json": "config.json"}
    elif case["container"] == "maskgit-bin":
        torch.save(m.state_dict(), path)
        info = {"format": "torch.save(state_dict) (zip), as maskgit-vqgan-imagenet-f16-256.bin",
                "state_dict": "<root>"}
    elif case["container"] == "maskgit-hf":
        from safetensors.torch import save_file
        save_file(OrderedDict((k, v.contiguous()) for k, v in m.state_dict().items()), path, metadata={"format": "pt"})
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(maskgit_open_muse_config(case["conf"](), case["n_embed"]), f, indent=2, sort_keys=True)
            f.write("\n")
        info = {"format": "model.safetensors + config.json of open-muse's MaskGitVQGAN (ConfigMixin fields)",
                "state_dict": "<root>", "config_json": "config.json"}
    else:
        raise ValueError(case["container"])
    info["file"] = case["file"]
    return info


def reload_from_container(case, d):
    """The model as upstream's own loading code gets it from the container written above."""
    fam = case["family"]
    path = os.path.join(d, case["file"])
    if case["container"] == "llamagen-pt":
        fresh = build(case)
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        # reconstruction_vq_ddp.py / vq_demo.py:
        if "ema" in checkpoint:
            model_weight = checkpoint["ema"]
        elif "model" in checkpoint:
            model_weight = checkpoint["model"]
        elif "state_dict" in checkpoint:
            model_weight = checkpoint["state_dict"]
        else:
            raise Exception("please check model weight")
        fresh.load_state_dict(model_weight)
        return fresh.eval()
    if case["container"] == "llamagen-hf":
        cfgd = json.load(open(os.path.join(d, "config.json")))
        fresh = build(case)      # from_pretrained would build ch 128 (ModelArgs has no ch): same classes, load the file
        from safetensors.torch import load_file
        fresh.load_state_dict(load_file(path))
        assert fresh.config.codebook_l2_norm == cfgd["codebook_l2_norm"]
        return fresh.eval()
    fresh = build(case)
    sd = torch.load(path, map_location="cpu") if path.endswith(".bin") else __import__(
        "safetensors.torch", fromlist=["load_file"]).load_file(path)
    fresh.load_state_dict(sd, strict=True)                     # as PretrainedTokenizer does
    return fresh.eval()


def generated_model(case):
    """The case's upstream model with vqrt-rng-v1 weights (every state-dict tensor), before any adjustment."""
    torch.manual_seed(case["seed"])
    m = build(case)
    fill_state_dict(m, case["seed"])
    return m


def as_evaluated(case, m):
    """A full case's model as its evaluation gets it: for maskgit-full-f16, titok.PretrainedTokenizer, which builds
    the f16 model and loads a state-dict file with strict=True."""
    if not case.get("pretrained_tokenizer"):
        return m
    with tempfile.TemporaryDirectory() as tmp:
        f = os.path.join(tmp, "maskgit-vqgan-imagenet-f16-256.bin")
        torch.save(m.state_dict(), f)
        return UP["titok"].PretrainedTokenizer(f)


def weights_entry(case):
    """case.json's `weights`: the container file (small) or the generator and seed (full)."""
    return case["file"] if case["kind"] == "small" else {
        "generator": "vqrt-rng-v1", "seed": case["seed"],
        "names": "the upstream model's state-dict keys, all tensors incl. buffers (quantize.codebook_used)",
        "overrides": {}}


def float32_errors(fam, m, x32, codes32, lat64, rec64, name=None):
    """PyTorch's float32 error on this CPU against the float64 latents / decoding of codes32, in both memory formats
    (different kernels): the larger of each. Generating (no `name`), the contiguous run must reproduce codes32;
    recording a committed case, codes that differ from codes.npy are reported."""
    def run(layout):
        mm, xi = (m, x32) if layout == "contiguous" else channels_last(m, x32)
        with torch.no_grad():
            la, co = encode(fam, mm, xi)
            re = decode(fam, mm, codes32)
        if name is None:
            assert torch.equal(co, codes32) or layout == "channels_last", "contiguous codes must reproduce"
        elif not torch.equal(co.to(codes32.dtype), codes32):
            print(f"{name}: {int((co.to(codes32.dtype) != codes32).sum())} codes differ from codes.npy ({layout})")
        return la, re
    return worst_float32_error(run, lat64, rec64)


# ----------------------------------------------------------------------------------------------- main work

def run_case(name, case, previous=None):
    """Generates the case into OUT/name; `previous`: a copy of the committed case, whose other CPU kinds' records
    are kept when the case is unchanged."""
    t0 = time.time()
    fam, size = case["family"], case["size"]
    m = generated_model(case)
    notes = "vqrt-rng-v1 values as generated"
    if case["kind"] == "small" and case.get("euclidean_codebook"):
        with torch.no_grad():
            cb = codebook_from_latents(fam, m, size, m.quantize.embedding.weight.shape[0], 0.1, case["seed"])
            m.quantize.embedding.weight.copy_(cb)
        notes = ("codebook = latents (the quantizer's input) of " + ", ".join(CODEBOOK_SOURCES) + f" at {size}px, "
                 "sampled with replacement + Gaussian noise (0.1 x latent std); stored in the checkpoint")

    imgs, img_notes = zip(*[load_image(s, size) for s in case["images"]])
    x32 = torch.stack([preprocess(fam, im, size) for im in imgs]).contiguous()

    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    container = None
    if case["kind"] == "small":
        container = write_container(case, m, d)
        m = reload_from_container(case, d)
    else:
        m = as_evaluated(case, m)

    with torch.no_grad():
        lat32, codes32 = encode(fam, m, x32)
        rec32 = decode(fam, m, codes32)
    m64 = copy.deepcopy(m).double()
    with torch.no_grad():
        lat64, codes64 = encode(fam, m64, x32.double())
        rec64 = decode(fam, m64, codes32)
        margin = margins(fam, m64, lat64)
        if fam == "maskgit-vqgan" and case.get("pretrained_tokenizer"):
            # PretrainedTokenizer.encode / decode themselves: the same codes, and decode = clamp(recon, 0, 1).
            assert torch.equal(m.encode(x32).reshape(codes32.shape), codes32)
            assert torch.equal(m.decode(codes32.reshape(codes32.shape[0], -1)), rec32.clamp(0, 1))

    worst = float32_errors(fam, m, x32, codes32, lat64, rec64)

    save_case_arrays(d, x32, lat32, lat64, codes32, margin, rec32, rec64)

    lat_max, lat_rms = stats(lat32.numpy(), lat64.numpy())
    rec_max, rec_rms = stats(rec32.numpy(), rec64.numpy())
    case_json = {
        "family": fam,
        "description": case["description"],
        "config": config_of(case, m),
        "weights": weights_entry(case),
        "weights_origin": ({"generator": "vqrt-rng-v1", "seed": case["seed"], "then": notes}
                           if case["kind"] == "small" else notes),
        "container": container,
        "state_dict": {"keys": len(m.state_dict()), "numel": int(sum(t.numel() for t in m.state_dict().values())),
                       "unused_by_inference": [k for k in m.state_dict() if k == "quantize.codebook_used"]},
        "upstream": {"commits": UP["commits"],
                     "code": {"llamagen-vq": "tokenizer/tokenizer_image/vq_model.py (VQModel / VQModelHF)",
                              "maskgit-vqgan": "modeling/modules/maskgit_vqgan.py via modeling/titok.py "
                                               "(PretrainedTokenizer module tree)"}[fam]},
        "input": "input.npy",
        "images": [{"index": i, "source": note} for i, note in enumerate(img_notes)],
        "input_mapping": {"llamagen-vq": f"LlamaGen center_crop_arr(img, {size}), ToTensor, Normalize(0.5, 0.5)",
                          "maskgit-vqgan": f"1d-tokenizer ImageTransform({size}, {size}).eval_transform: "
                                           f"Resize({size}, bicubic), CenterCrop, ToTensor ([0, 1])"}[fam],
        "arrays": {f: npy_info(os.path.join(d, f)) for f in sorted(os.listdir(d)) if f.endswith(".npy")},
        "latents_definition": {"llamagen-vq": "quant_conv(encoder(x)) before the quantizer's l2 normalisation, "
                                              "[N, codebook_embed_dim, h, w]",
                               "maskgit-vqgan": "encoder(x), [N, z_channels, h, w]"}[fam],
        "recon_definition": {"llamagen-vq": "decode_code(codes.npy, latent shape): decoder(post_quant_conv(the "
                                            "normalised codebook rows)), before the output mapping",
                             "maskgit-vqgan": "decoder(quantize.get_codebook_entry(codes.npy)), before "
                                              "PretrainedTokenizer.decode's clamp to [0, 1]"}[fam],
        "generated_on": cpu_kind(),
        "tolerances": tolerances(rec_max, worst),
        "codes": codes_summary(codes32, codes64, margin),
        "generator": "tools/make_upstream_model_fixtures.py", "torch": torch.__version__,
    }
    by_cpu = kept_cpu_errors(name, case, case_json["weights"], previous, d)
    by_cpu.update(case_json["tolerances"]["by_cpu"])
    case_json["tolerances"]["by_cpu"] = dict(sorted(by_cpu.items()))
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump(case_json, f, indent=1)
    size_kb = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)) / 1024
    print(f"{name:20s} {time.time() - t0:6.1f}s {size_kb:8.0f} KB  distinct {case_json['codes']['distinct']:5d}/"
          f"{codes32.numel():5d}  lat {lat_max:.2e}  rec {rec_max:.2e}  (both layouts: lat "
          f"{worst['latents_f32_vs_f64_maxabs']:.2e} rec {worst['recon_f32_vs_f64_maxabs']:.2e})  mismatch "
          f"{case_json['codes']['f32_vs_f64_mismatches']}  min margin {margin.min():.1e}", flush=True)


def record_cpu_errors(name, case):
    """Adds (or refreshes) this machine's CPU kind in the committed case's tolerances.by_cpu, measured as run_case
    measures it on the committed input, codes and float64 arrays with the committed weights (small: the container,
    loaded as upstream loads it; full: vqrt-rng-v1 as generated); nothing else changes."""
    d = os.path.join(OUT, name)
    with open(os.path.join(d, "case.json")) as f:
        spec = json.load(f)
    if spec["weights"] != json.loads(json.dumps(weights_entry(case))):
        raise SystemExit(f"{name}: case.json's weights are not what this generator builds: regenerate the case")
    if spec["upstream"]["commits"] != UP["commits"]:
        print(f"warning: {name} was made from upstream {spec['upstream']['commits']}, the mirrors are at "
              f"{UP['commits']}")
    m = reload_from_container(case, d) if case["kind"] == "small" else as_evaluated(case, generated_model(case))
    x32, codes32, lat64, rec64 = committed_case_arrays(d)
    entry = cpu_errors(float32_errors(case["family"], m, x32, codes32, lat64, rec64, name=name))
    check_measured_case(name, entry, lat64)
    store_cpu_errors(d, name, entry, width=20)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--record-cpu-errors", action="store_true",
                    help="add this CPU kind's PyTorch float32 error to the committed cases (nothing else changes)")
    ap.add_argument("--mirror", default="/work/.mirror")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    names = selected_cases(args.only, CASES)
    torch.set_num_threads(args.threads)
    load_upstream(args.mirror)
    for name in names:
        if args.record_cpu_errors:
            record_cpu_errors(name, CASES[name])
        else:
            # Keep the committed case (and what other CPU kinds recorded for it) until the new one is written.
            with previous_case(OUT, name) as old:
                run_case(name, CASES[name], old)


if __name__ == "__main__":
    main()
