"""The UPSTREAM code of SEED-Voken (Open-MAGVIT2, IBQ) and taming-transformers, loaded from local git mirrors at run
time (never vendored here), for fixture generators and benchmarks.

Mirrors are the bare git directories the search tool's `fetch` makes: MIRROR/TencentARC+SEED-Voken/repo and
MIRROR/CompVis+taming-transformers/repo (default MIRROR /work/.mirror, or $VQRT_MIRROR). `load(mirror)` extracts
their HEAD trees into a temporary directory (SEED-Voken's `src/` package, `evaluation_image.py` and `configs/`,
taming's `taming/` package and `configs/`) and imports them. Three stand-ins are installed first, none of them
model code:
- `main.instantiate_from_config`: both repositories import it from their training script `main.py`, which imports
  their whole training stack. The stand-in instantiates `target` / `class_path` like theirs, except the loss
  (perceptual loss + discriminator, irrelevant at inference; the real ones download VGG weights), which becomes a
  module with the same key prefixes (`perceptual_loss.*`, frozen as LPIPS is; `discriminator.main.*`).
- `lightning`: SEED-Voken imports `lightning as L` (Lightning 2.2); `L.LightningModule` is pytorch_lightning's.
- albumentations 1.4.4 (SEED-Voken's pin; taming's ImagePaths uses the same two transforms) is taken from
  ./.venv-albumentations when present (`pip install --target .venv-albumentations albumentations==1.4.4 pydantic
  pydantic-core annotated-types typing-inspection --no-deps`); its sklearn imports (colour-transfer transforms)
  get empty stand-ins.
"""
import ast
import importlib
import os
import subprocess
import sys
import tempfile
import types

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = "TencentARC+SEED-Voken"
TAMING = "CompVis+taming-transformers"


class LossStub(nn.Module):
    """Key layout of SEED-Voken's / taming's VQLPIPSWithDiscriminator: `perceptual_loss.*` (LPIPS, frozen, so
    LitEma keeps no shadow of it) and `discriminator.main.*` (trainable: shadowed)."""

    def __init__(self, **_):
        super().__init__()
        sys.path.insert(0, HERE)
        from reference.containers import TamingLossStub, randomize_
        stub = randomize_(TamingLossStub(), 4321)
        self.perceptual_loss = stub.perceptual_loss
        self.discriminator = stub.discriminator
        for p in self.perceptual_loss.parameters():
            p.requires_grad = False


def instantiate_from_config(config):
    target = config.get("target", config.get("class_path"))
    params = config.get("params", config.get("init_args", {})) or {}
    if target.endswith(".DummyLoss"):
        return nn.Module()          # taming's DummyLoss: an empty module
    if ".losses." in target:
        return LossStub(**params)
    module, cls = target.rsplit(".", 1)
    return getattr(importlib.import_module(module), cls)(**params)


class Upstream:
    def __init__(self, mirror=None):
        mirror = mirror or os.environ.get("VQRT_MIRROR", "/work/.mirror")
        self.root = tempfile.mkdtemp(prefix="vqrt_upstream_")
        self.commits = {}
        for repo, paths in ((SEED, ["src", "evaluation_image.py", "configs"]), (TAMING, ["taming", "configs"])):
            git = os.path.join(mirror, repo, "repo")
            if not os.path.isdir(git):
                raise SystemExit(f"no mirror of {repo} at {git} (fetch it with the search tool's `fetch`)")
            self.commits[repo] = subprocess.check_output(["git", "-C", git, "rev-parse", "HEAD"], text=True).strip()
            dest = os.path.join(self.root, repo)
            os.makedirs(dest)
            archive = subprocess.check_output(["git", "-C", git, "archive", "HEAD"] + paths)
            subprocess.run(["tar", "-x", "-C", dest], input=archive, check=True)
        main = types.ModuleType("main")
        main.instantiate_from_config = instantiate_from_config
        sys.modules["main"] = main
        import pytorch_lightning
        lightning = types.ModuleType("lightning")
        lightning.LightningModule = pytorch_lightning.LightningModule
        sys.modules.setdefault("lightning", lightning)
        albu = os.path.join(HERE, "..", ".venv-albumentations")
        if os.path.isdir(albu):
            sys.path.insert(0, os.path.abspath(albu))
            for n in ("sklearn", "sklearn.decomposition", "sklearn.preprocessing"):
                sys.modules.setdefault(n, types.ModuleType(n))
            sys.modules["sklearn.decomposition"].PCA = object
            sys.modules["sklearn.preprocessing"].StandardScaler = object
            sys.modules["sklearn.preprocessing"].MinMaxScaler = object
        sys.path.insert(0, os.path.join(self.root, SEED))
        sys.path.insert(0, os.path.join(self.root, TAMING))

    def path(self, repo, rel):
        return os.path.join(self.root, repo, rel)

    def module(self, name):
        return importlib.import_module(name)

    def function_from(self, repo, rel, name, namespace):
        """A top-level function of an upstream script, compiled from its source (the script itself imports the
        whole evaluation stack: lpips, Inception, ...)."""
        src = open(self.path(repo, rel)).read()
        tree = ast.parse(src)
        fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
        code = compile(ast.Module(body=[fn], type_ignores=[]), self.path(repo, rel), "exec")
        exec(code, namespace)
        return namespace[name]

    # ------------------------------------------------------------------ the models, as their configs build them

    def lfqgan(self, ddconfig, use_ema):
        """src/Open_MAGVIT2/models/lfqgan.py VQModel (n_embed = 2^z, embed_dim = z, as every config)."""
        VQModel = self.module("src.Open_MAGVIT2.models.lfqgan").VQModel
        z = ddconfig["z_channels"]
        return VQModel(ddconfig=ddconfig, lossconfig={"target": "src.Open_MAGVIT2.modules.losses.vqperceptual.VQLPIPSWithDiscriminator"},
                       n_embed=2 ** z, embed_dim=z, sample_minimization_weight=1.0, batch_maximization_weight=1.0,
                       use_ema=use_ema).eval()

    def ibq(self, ddconfig, n_embed, embed_dim, use_ema):
        """src/IBQ/models/ibqgan.py IBQ with the imagenet_ibqgan_*.yaml quantizer settings."""
        IBQ = self.module("src.IBQ.models.ibqgan").IBQ
        return IBQ(ddconfig=ddconfig, lossconfig={"target": "src.IBQ.modules.losses.vqperceptual.VQLPIPSWithDiscriminator"},
                   n_embed=n_embed, embed_dim=embed_dim, l2_normalize=False, use_entropy_loss=True,
                   sample_minimization_weight=1.0, batch_maximization_weight=1.0, entropy_temperature=0.01,
                   beta=0.25, use_ema=use_ema).eval()

    def taming_vqgan(self, ddconfig, n_embed, embed_dim):
        VQModel = self.module("taming.models.vqgan").VQModel
        return VQModel(ddconfig=ddconfig, lossconfig={"target": "taming.modules.losses.vqperceptual.VQLPIPSWithDiscriminator"},
                       n_embed=n_embed, embed_dim=embed_dim).eval()

    def taming_gumbel(self, ddconfig, n_embed, embed_dim):
        GumbelVQ = self.module("taming.models.vqgan").GumbelVQ
        sched = {"target": "taming.lr_scheduler.LambdaWarmUpCosineScheduler",
                 "params": {"warm_up_steps": 0, "max_decay_steps": 1000001, "lr_start": 0.9, "lr_max": 0.9, "lr_min": 1e-6}}
        return GumbelVQ(ddconfig=ddconfig, lossconfig={"target": "taming.modules.losses.vqperceptual.DummyLoss"},
                        n_embed=n_embed, embed_dim=embed_dim, temperature_scheduler_config=sched,
                        kl_weight=1e-8).eval()

    def noise_free_gumbel(self):
        """Replaces `F.gumbel_softmax` inside taming's quantize module by the same function with the Gumbel sample
        set to 0 (torch's implementation otherwise: softmax(logits / tau), hard one-hot of its argmax with the
        straight-through sum), so GumbelQuantize.forward gives the noise-free code vqrt computes."""
        tq = self.module("taming.modules.vqvae.quantize")
        real = torch.nn.functional

        def gumbel_softmax(logits, tau=1, hard=False, eps=1e-10, dim=-1):
            y_soft = (logits / tau).softmax(dim)
            if not hard:
                return y_soft
            index = y_soft.max(dim, keepdim=True)[1]
            y_hard = torch.zeros_like(logits, memory_format=torch.legacy_contiguous_format).scatter_(dim, index, 1.0)
            return y_hard - y_soft.detach() + y_soft

        proxy = types.SimpleNamespace(**{k: getattr(real, k) for k in dir(real) if not k.startswith("__")})
        proxy.gumbel_softmax = gumbel_softmax
        tq.F = proxy


# ---------------------------------------------------------------------------------- one interface for all four

def latents(kind, model, x):
    """What the quantizer receives: the encoder output (LFQ; lfqgan has no quant_conv) or quant_conv's output."""
    h = model.encoder(x)
    return h if kind == "lfq" else model.quant_conv(h)


def encode(kind, model, x):
    """Upstream's `encode` (the evaluation's call): (quant, codes [N, h, w] int64)."""
    b = x.shape[0]
    if kind == "lfq":
        quant, _, indices, _ = model.encode(x)
    else:
        quant, _, (_, _, indices) = model.encode(x)
    return quant, indices.reshape(b, quant.shape[2], quant.shape[3]).to(torch.int64)


def decode_codes(kind, model, codes):
    """Upstream's decoding of codes: the quantizer's `get_codebook_entry`, then `decode`. GumbelQuantize's builds a
    float32 one-hot (`F.one_hot(...).float()`) that a float64 model cannot multiply; there the embed rows are
    gathered instead (the same values: a one-hot product sums a single nonzero term)."""
    b, h, w = codes.shape
    q = model.quantize
    if kind == "lfq":
        quant = q.get_codebook_entry(codes.reshape(b, h * w), (b, h, w, q.codebook_dim), None)
    elif kind == "gumbel" and q.embed.weight.dtype != torch.float32:
        quant = q.embed.weight[codes].permute(0, 3, 1, 2)
    else:
        dim = q.embed.weight.shape[1] if kind == "gumbel" else q.embedding.weight.shape[1]
        quant = q.get_codebook_entry(codes.reshape(-1), (b, h, w, dim))
    return model.decode(quant.to(next(model.decoder.parameters()).dtype))


def scores(kind, model, lat):
    """Per position, the quantizer's scores over its codes (float64 when `lat` is) and whether the best is the
    max or the min; LFQ: None (its margin is the smallest |latent| of the position)."""
    if kind == "lfq":
        return None, None
    if kind == "ibq":
        return torch.einsum("b d h w, n d -> b n h w", lat, model.quantize.embedding.weight), "max"
    if kind == "gumbel":
        return model.quantize.proj(lat), "max"
    z = lat.permute(0, 2, 3, 1).reshape(-1, lat.shape[1])
    e = model.quantize.embedding.weight
    d = (z ** 2).sum(1, keepdim=True) + (e ** 2).sum(1) - 2 * z @ e.t()       # VectorQuantizer2's expanded form
    b, _, h, w = lat.shape
    return d.reshape(b, h, w, -1).permute(0, 3, 1, 2), "min"


def margins(kind, model, lat64):
    """float64 [N, h, w]: |best - second best| of the scores; LFQ: min over channels of |latent| (the bit decided
    by the smallest margin)."""
    if kind == "lfq":
        return lat64.abs().min(dim=1).values.numpy()
    s, mode = scores(kind, model, lat64)
    top = torch.sort(s, dim=1, descending=(mode == "max")).values
    return (top[:, 0] - top[:, 1]).abs().numpy()


# ---------------------------------------------------------------------------------- tools/bench.py rows

BENCH_MODELS = {
    # key: (label, checkpoint file, kind, config)
    "magvit2-256L": ("Open-MAGVIT2 256-L (2^18 LFQ)", "magvit2_256L.ckpt", "lfq",
                     dict(ddconfig=dict(double_z=False, z_channels=18, resolution=128, in_channels=3, out_ch=3,
                                        ch=128, ch_mult=[1, 1, 2, 2, 4], num_res_blocks=4))),
    "ibq-16384": ("IBQ 16384", "ibq_16384.ckpt", "ibq",
                  dict(ddconfig=dict(double_z=False, z_channels=256, resolution=256, in_channels=3, out_ch=3, ch=128,
                                     ch_mult=[1, 1, 2, 2, 4], num_res_blocks=4, attn_resolutions=[16], dropout=0.0),
                       n_embed=16384, embed_dim=256)),
    "ibq-262144": ("IBQ 262144", "ibq_262144.ckpt", "ibq",
                   dict(ddconfig=dict(double_z=False, z_channels=256, resolution=256, in_channels=3, out_ch=3, ch=128,
                                      ch_mult=[1, 1, 2, 2, 4], num_res_blocks=4, attn_resolutions=[16], dropout=0.0),
                        n_embed=262144, embed_dim=256)),
    "gumbel-f8": ("taming GumbelVQ f8-8192", "gumbel_f8.ckpt", "gumbel",
                  dict(ddconfig=dict(double_z=False, z_channels=256, resolution=256, in_channels=3, out_ch=3, ch=128,
                                     ch_mult=[1, 1, 2, 4], num_res_blocks=2, attn_resolutions=[32], dropout=0.0),
                       n_embed=8192, embed_dim=256)),
}

_UPSTREAM = None


def _up():
    global _UPSTREAM
    if _UPSTREAM is None:
        _UPSTREAM = Upstream()
    return _UPSTREAM


def _build(kind, cfg, use_ema):
    up = _up()
    if kind == "lfq":
        return up.lfqgan(cfg["ddconfig"], use_ema)
    if kind == "ibq":
        return up.ibq(cfg["ddconfig"], cfg["n_embed"], cfg["embed_dim"], use_ema)
    return up.taming_gumbel(cfg["ddconfig"], cfg["n_embed"], cfg["embed_dim"])


def write_bench_checkpoint(key, path):
    """The released layout with PyTorch's default initialisation: SEED-Voken models as Lightning 2 `.ckpt` with
    their LitEma shadows (use_ema: True, as released), GumbelVQ as a Lightning 1 `last.ckpt`."""
    _, _, kind, cfg = BENCH_MODELS[key]
    torch.manual_seed(0)
    model = _build(kind, cfg, use_ema=True)
    version = "1.0.8" if kind == "gumbel" else "2.2.0"
    torch.save({"epoch": 1, "global_step": 1, "pytorch-lightning_version": version, "state_dict": model.state_dict()}, path)


class BenchModel(nn.Module):
    """The interface tools/bench.py times (`encode` -> (latents, codes), `decode_codes`) over the upstream model:
    upstream's own `encode` (the quantizer's whole eval forward, as evaluation_image.py runs it) and decoding of the
    codes through the quantizer's `get_codebook_entry` and `decode`."""

    def __init__(self, kind, model):
        super().__init__()
        self.kind, self.model = kind, model

    def encode(self, x):
        return encode(self.kind, self.model, x)

    def decode_codes(self, codes):
        return decode_codes(self.kind, self.model, codes)


def bench_model(key, path):
    """The upstream model with the checkpoint's weights, EMA weights copied in as `ema_scope()` does; the shadows
    are then dropped (upstream's evaluation keeps them: PyTorch's measured peak is the smaller for it)."""
    _, _, kind, cfg = BENCH_MODELS[key]
    model = _build(kind, cfg, use_ema=kind != "gumbel")
    sd = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
    model.load_state_dict(sd, strict=False)
    del sd
    if getattr(model, "use_ema", False):
        model.model_ema.copy_to(model)
        del model.model_ema
        model.use_ema = False
    if kind == "gumbel":
        _up().noise_free_gumbel()
    return BenchModel(kind, model.eval())
